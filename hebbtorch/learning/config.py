"""Training configuration, validated up front so a bad value fails before any work is done."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.precision import PRECISIONS

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "seed", "cosine")
LEARNING_RULES = ("bptt", "eprop", "eprop-random", "ottt")  # see hebbtorch.learning.online


MAX_EPOCHS = 1_000_000
FLOAT32_MAX = 3.4028234663852886e38

@dataclass
class TrainConfig:
    """Everything that determines a run; saved in every checkpoint and report.

    schedule: ``constant``; ``cosine`` (per batch, to 0 at the end); ``seed`` (Chevalier's recipe:
    lr, lr/2, lr/10 for epochs 1, 2, 3+, with a fresh optimizer each epoch as the seed does).
    precision: of the synaptic matmuls, ``fp32`` (exact, TF32 off), ``tf32`` (CUDA only; a
    no-op on CPU) or ``bf16`` (autocast; fp32 loss, weights and neuron state); see
    :mod:`hebbtorch.learning.precision`. Configs saved before it existed mean ``fp32``.
    learning: ``bptt``, or the online rules ``eprop`` / ``eprop-random`` / ``ottt`` of
    :mod:`hebbtorch.learning.online` (lif-mlp only, per-step loss; see docs/online.md).
    """

    model: str = "seed-snn"
    dataset: str = "mnist-5k"
    data_root: str | None = None
    download: bool = False
    epochs: int = 3
    num_steps: int | None = None
    hidden: int | None = None
    batch_size: int = 1000
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.5
    weight_decay: float = 0.0
    schedule: str = "seed"
    seed: int = 0
    device: str = "auto"
    max_train: int | None = None
    max_test: int | None = None
    checkpoint_every: int = 0
    precision: str = "fp32"
    model_options: dict = field(default_factory=dict)
    learning: str = "bptt"

    def validate(self) -> TrainConfig:
        from hebbtorch.networks.registry import get_spec

        get_spec(self.model)
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise HebbtorchError(f"{name} must be >= 1, got {getattr(self, name)}")
        if int(self.epochs) > MAX_EPOCHS:  # a typo, not a run: it would never finish
            raise HebbtorchError(f"epochs must be <= {MAX_EPOCHS:,}, got {self.epochs}")
        if self.optimizer not in OPTIMIZERS:
            raise HebbtorchError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise HebbtorchError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise HebbtorchError(
                f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.learning not in LEARNING_RULES:
            raise HebbtorchError(
                f"learning must be one of {LEARNING_RULES}, got {self.learning!r}")
        if self.learning != "bptt" and (
                self.model != "lif-mlp" or self.precision == "bf16"
                or self.model_options.get("dropout")
                or self.model_options.get("neuron") not in (None, "lif", "alif")):
            raise HebbtorchError(f"--learning {self.learning} trains lif-mlp (LIF or ALIF "
                                 "neurons) without dropout in fp32/tf32 only")
        if self.learning.startswith("eprop") and int(self.model_options.get("hidden_layers")
                                                     or 1) != 1:
            raise HebbtorchError("e-prop trains one hidden layer: use --hidden-layers 1, or ottt")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise HebbtorchError(f"learning rate must be a positive number, got {self.lr}")
        if self.lr > FLOAT32_MAX:  # the optimizer's update overflows fp32 weights at once
            raise HebbtorchError(f"learning rate must be <= {FLOAT32_MAX:.3g} (float32's "
                                 f"largest number), got {self.lr:g}")
        if not 0 <= self.momentum < 1:
            raise HebbtorchError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise HebbtorchError(f"weight decay must be >= 0, got {self.weight_decay}")
        for name in ("max_train", "max_test", "num_steps", "hidden"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise HebbtorchError(f"{name} must be >= 1, got {v}")
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**32):
            raise HebbtorchError(f"seed must be an integer in 0..{2**32 - 1}, got {self.seed!r}")
        if self.checkpoint_every < 0:
            raise HebbtorchError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def lr_at(self, epoch: int, progress: float) -> float:
        """Learning rate in ``epoch`` (0-based) at fraction ``progress`` of the whole run."""
        if self.schedule == "seed":
            return self.lr * (1.0, 0.5, 0.1)[min(epoch, 2)]
        if self.schedule == "cosine":
            return 0.5 * self.lr * (1.0 + math.cos(math.pi * progress))
        return self.lr
