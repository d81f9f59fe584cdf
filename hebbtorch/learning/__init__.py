"""Learning: surrogate-gradient BPTT (:mod:`~hebbtorch.learning.bptt`), the Diehl & Cook
unsupervised trainer (:mod:`~hebbtorch.learning.unsupervised`), aSTDP
(:mod:`~hebbtorch.learning.astdp`), SpikeProp (:mod:`~hebbtorch.learning.spikeprop`) and
e-prop / OTTT, online learning with memory independent of T (:mod:`~hebbtorch.learning.online`)."""

from hebbtorch._lazy import lazy_exports
from hebbtorch.learning.astdp import (
    ASTDPConfig,
    ASTDPNetwork,
    RateCurve,
    finite_difference,
    stdp_contrast,
)
from hebbtorch.learning.bptt import TrainResult, evaluate, train
from hebbtorch.learning.config import TrainConfig
from hebbtorch.learning.eprop import eprop_grads
from hebbtorch.learning.online import grads as online_grads
from hebbtorch.learning.online_net import OnlineSNN, RateReg
from hebbtorch.learning.ottt import ottt_grads

# imported on first use: the unsupervised network's kernels, figures, the run machinery
_EXPORTS = {
    "BPTTTrainer": "bptt", "load_trained": "bptt",
    "Budget": "run", "Divergence": "run", "LoopEnd": "run", "LoopState": "run",
    "RunFolder": "run", "Schedule": "run", "Trainer": "run", "load_checkpoint": "run",
    "run_loop": "run", "save_checkpoint": "run",
    "RuleSetup": "unsupervised", "balanced_triplet": "unsupervised", "make_rule": "unsupervised",
    "respond": "unsupervised", "train_unsupervised": "unsupervised",
    "generate_command": "astdp_run", "generate_images": "astdp_run",
    "generate_report": "astdp_run", "load_run": "astdp_run", "train_astdp": "astdp_run",
    "FitResult": "spikeprop", "SpikePropConfig": "spikeprop", "SpikePropNet": "spikeprop",
    "SpikePropTrainer": "spikeprop", "iris_data": "spikeprop", "xor_data": "spikeprop",
    "ConvSTDPConfig": "conv_stdp", "STDPSchedule": "conv_stdp", "run_experiment": "conv_stdp",
    "conv_dc_experiment": "conv_stdp_dc",
    "fit_readout_lbfgs": "conv_stdp_readout", "shift_images": "conv_stdp_readout",
    "sequential_grads": "online",
    "autocast": "precision", "matmul_precision": "precision",
    "learning_curves": "report", "write_history": "report",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "ASTDPConfig", "ASTDPNetwork", "OnlineSNN", "RateCurve", "RateReg", "TrainConfig",
    "TrainResult", "eprop_grads", "evaluate", "finite_difference", "online_grads", "ottt_grads",
    "stdp_contrast", "train",
]
__all__ += sorted(_EXPORTS)
