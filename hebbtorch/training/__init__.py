"""BPTT training: config, trainer loop with atomic checkpoints and exact resume, metrics, plots."""

from hebbtorch.training.config import TrainConfig
from hebbtorch.training.trainer import TrainResult, evaluate, train

__all__ = ["TrainConfig", "TrainResult", "evaluate", "train"]
