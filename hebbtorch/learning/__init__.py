"""Learning: surrogate-gradient BPTT (:mod:`~hebbtorch.learning.bptt`), the Diehl & Cook
unsupervised trainer (:mod:`~hebbtorch.learning.unsupervised`), aSTDP
(:mod:`~hebbtorch.learning.astdp`) and SpikeProp (:mod:`~hebbtorch.learning.spikeprop`)."""

from hebbtorch.learning.astdp import (
    ASTDPConfig,
    ASTDPNetwork,
    RateCurve,
    finite_difference,
    stdp_contrast,
)
from hebbtorch.learning.bptt import TrainResult, evaluate, train
from hebbtorch.learning.config import TrainConfig

__all__ = [
    "ASTDPConfig", "ASTDPNetwork", "RateCurve", "TrainConfig", "TrainResult", "evaluate",
    "finite_difference", "stdp_contrast", "train",
]
