"""Learning: surrogate-gradient BPTT (:mod:`~hebbtorch.learning.bptt`), the Diehl & Cook
unsupervised trainer (:mod:`~hebbtorch.learning.unsupervised`), aSTDP
(:mod:`~hebbtorch.learning.astdp`), SpikeProp (:mod:`~hebbtorch.learning.spikeprop`) and
e-prop / OTTT, online learning with memory independent of T (:mod:`~hebbtorch.learning.online`)."""

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

__all__ = [
    "ASTDPConfig", "ASTDPNetwork", "OnlineSNN", "RateCurve", "RateReg", "TrainConfig",
    "TrainResult", "eprop_grads", "evaluate", "finite_difference", "online_grads", "ottt_grads",
    "stdp_contrast", "train",
]
