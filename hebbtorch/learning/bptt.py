"""BPTT trainer: seeded, resumable bit for bit on CPU, with atomic checkpoints and reports.

Exact resume rests on three choices: the data order of epoch ``e`` is a permutation drawn from a
generator seeded by ``(seed, e)``; the learning rate is a pure function of (epoch, batch); and the
checkpoint holds the optimizer state plus every RNG state the model draws from.

Under ``torchrun`` (``WORLD_SIZE > 1``) the same loop runs data-parallel: see
:mod:`hebbtorch.distributed` (global batches sharded over ranks, DDP gradient averaging,
rank-0-only files, per-rank noise generators saved in the checkpoint for exact resume).

``cfg.precision`` (:mod:`hebbtorch.learning.precision`) sets the TF32 flags for the whole call
(restored afterwards) and wraps each model forward in bf16 autocast for ``bf16``; the loss is
always computed on fp32 logits.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from hebbtorch import distributed as ddp
from hebbtorch.data.preflight import check_splits
from hebbtorch.errors import HebbtorchError
from hebbtorch.io import write_json
from hebbtorch.kernels import finite
from hebbtorch.learning.config import TrainConfig
from hebbtorch.learning.online import sequential_grads
from hebbtorch.learning.precision import autocast, matmul_precision
from hebbtorch.learning.run import (
    CHECKPOINT,
    Budget,
    Divergence,
    LoopState,
    RunFolder,
    Schedule,
    Trainer,
    check_memory,
    load_checkpoint,
    run_loop,
)
from hebbtorch.networks import memory
from hebbtorch.networks.registry import build_model, get_spec
from hebbtorch.seed import resolve_device

# TrainConfig fields newer than some checkpoints; each default must be the behaviour before it
ADDED_FIELDS = ("precision", "learning")


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: list[dict]  # one row per epoch
    metrics: dict  # the report written to metrics.json


def _make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _epoch_order(cfg: TrainConfig, epoch: int, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def _as_float(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    return images.to(device, non_blocking=True).float().div_(255.0)


def load_split(cfg: TrainConfig, split: str):
    return _load_with_classes(cfg, split)[:2]


@torch.no_grad()
def evaluate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
             batch_size: int = 1000, seed: int = 0, device: torch.device | str = "cpu",
             precision: str = "fp32") -> dict:
    """Mean cross-entropy and accuracy over a split; input noise seeded so it is repeatable.

    precision: ``bf16`` runs the forward under bf16 autocast (the loss still in fp32); TF32 is
    whatever the caller set (:func:`train` sets it for the whole run)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    g = torch.Generator(device=device).manual_seed(seed + 2)
    loss_sum, correct = 0.0, 0
    for i in range(0, len(labels), batch_size):
        x = _as_float(images[i:i + batch_size], device)
        y = labels[i:i + batch_size].to(device)
        with autocast(precision, device):
            logits = model(x, generator=g)
        logits = logits.float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    model.train(was_training)
    n = max(len(labels), 1)
    return {"loss": loss_sum / n, "accuracy": correct / n}


def _same_config(old: dict, new: dict) -> bool:
    """Configs saved before a field existed ran with its default."""
    defaults = TrainConfig().to_dict()
    return {**{k: defaults[k] for k in ADDED_FIELDS}, **old} == new


def _check_memory(cfg: TrainConfig, image_shape: tuple[int, ...], n_train: int) -> None:
    """The memory of one training step (:mod:`hebbtorch.networks.memory`: weights, gradients
    and optimizer state, plus the tensors BPTT keeps for every time step, counted on the model
    itself), refused before the first step when it cannot fit. The weights are sized on the
    meta device first, so a model too large to build is refused without building it."""
    spec = get_spec(cfg.model)
    steps = spec.default_steps if cfg.num_steps is None else cfg.num_steps
    batch = min(cfg.batch_size, n_train)
    what = (f"{cfg.model} with --hidden {cfg.hidden or 'default'}, --steps {steps} and batches "
            f"of {batch}")
    device = resolve_device(cfg.device)
    try:
        with torch.device("meta"):
            meta = build_model(cfg.model, cfg.num_steps, cfg.hidden, **cfg.model_options)
    except (TypeError, RuntimeError, OverflowError, ValueError) as e:  # sizes beyond int64
        why = (str(e).strip().splitlines() or [""])[0][:120]
        raise HebbtorchError(f"{what}: the model cannot be built ({why}); lower --hidden"
                             ) from None
    states = 2 + memory.OPTIMIZER_STATES.get(cfg.optimizer, 2)
    check_memory(memory.parameter_bytes(meta) * states, f"the weights of {what}",
                 "lower --hidden", device)
    model = build_model(cfg.model, cfg.num_steps, cfg.hidden, **cfg.model_options)
    with matmul_precision(cfg.precision), autocast(cfg.precision, torch.device("cpu")):
        # measured as the run computes: its matmul precision, bf16 autocast included
        est = memory.step_memory(model, torch.rand(image_shape), batch, cfg.optimizer,
                                 per_step_only=cfg.learning != "bptt")
    check_memory(est.total, what, "lower --batch-size, --steps or --hidden", device)


def _with_data_shape(cfg: TrainConfig, tr_x, tr_y, te_x, te_y,
                     n_classes: int | None = None) -> None:
    """Size the model's input and output from the data (option only where it differs from
    MNIST's 28x28 and 10 classes, so configs of earlier runs stay equal for --resume)."""
    shape = check_splits(tr_x, tr_y, te_x, te_y, cfg.dataset,
                         n_classes=n_classes)
    if len(shape.image_shape) != 2:
        raise HebbtorchError(f"{cfg.dataset}: expected grey images [N, H, W], got "
                             f"{tuple(tr_x.shape)}")
    if shape.image_shape != (28, 28):
        cfg.model_options["image"] = list(shape.image_shape)
    if shape.n_classes != 10:
        cfg.model_options["classes"] = shape.n_classes
    _check_memory(cfg, shape.image_shape, len(tr_y))


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False, quiet: bool = False,
          overwrite: bool = False, stop_after_batches: int | None = None,
          time_budget_s: float | None = None, data=None) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.dataset`` by BPTT, writing reports and checkpoints to ``out``
    (a :class:`~hebbtorch.learning.run.RunFolder`: ``resume`` continues its checkpoint,
    ``overwrite`` replaces an earlier run in it).

    stop_after_batches / time_budget_s: end this call after that many optimizer steps or
    seconds of training (a time-boxed job); the checkpoint then lets ``resume=True`` continue
    exactly where it stopped. data: optional ``(train_images, train_labels, test_images,
    test_labels)`` (uint8 images) instead of loading ``cfg.dataset``. The model's input size
    and class count come from the data.

    Launched by ``torchrun`` with ``WORLD_SIZE > 1``, joins the process group (and leaves it at
    the end if it joined it here) and trains data-parallel; ``cfg.batch_size`` is the global
    batch and must be divisible by the world size.
    """
    cfg.validate()
    budget = Budget(time_budget_s)
    device = resolve_device(cfg.device)
    n_classes = None
    if data is None:  # before anything is written: a bad data set fails first
        tr_x, tr_y, n_classes = _load_with_classes(cfg, "train")
        te_x, te_y, _ = _load_with_classes(cfg, "test")
    else:
        tr_x, tr_y, te_x, te_y = data
    _with_data_shape(cfg, tr_x, tr_y, te_x, te_y, n_classes)
    info = ddp.setup(device)
    try:
        with RunFolder(out, "train", cfg.to_dict(), resume=resume, overwrite=overwrite,
                       ignore=("device", "checkpoint_every", "download"),
                       compatible=_same_config, main=info.is_main) as run, \
                matmul_precision(cfg.precision):
            return _train(cfg, run, ddp.rank_device(device, info), info,
                          quiet=quiet or not info.is_main, budget=budget,
                          stop_after_batches=stop_after_batches,
                          data=(tr_x, tr_y, te_x, te_y))
    finally:
        ddp.teardown(info)


def _load_with_classes(cfg: TrainConfig, split: str):
    from hebbtorch.data import load_dataset

    ds = load_dataset(cfg.dataset, split=split, root=cfg.data_root, download=cfg.download)
    limit = cfg.max_train if split == "train" else cfg.max_test
    return ds.images[:limit], ds.labels[:limit], ds.num_classes


def _train(cfg: TrainConfig, run: RunFolder, device: torch.device, info: ddp.DistInfo, *,
           quiet: bool, budget: Budget, stop_after_batches: int | None, data) -> TrainResult:
    if info.enabled:
        ddp.check_batch(cfg.batch_size, info)
        if cfg.learning != "bptt":
            raise HebbtorchError(f"--learning {cfg.learning} runs in one process only")
    trainer = BPTTTrainer(cfg, run.path, device, info, data, quiet=quiet)
    n = trainer.n_batches
    schedule = Schedule(cfg.epochs * n, n, checkpoint_every=cfg.checkpoint_every or None)
    end = run_loop(run, trainer, schedule, quiet=quiet, time_budget_s=budget.seconds,
                   divergence=Divergence(cfg.lr), stop_after=stop_after_batches,
                   required=REQUIRED)
    history = end.loop.history
    if end.stopped:
        epoch, batch = divmod(end.loop.step, n)
        return TrainResult(trainer.model, history, {"stopped_at": {"epoch": epoch,
                                                                   "batch": batch}})
    finite.raise_pending()
    if not trainer.metrics and info.is_main:  # resumed a finished run: nothing ran; the report
        # again, as the process may have been killed between the last checkpoint and it
        trainer.metrics = _report(cfg, trainer.model, history, end.loop.batch_log, device,
                                  run.path, info.world_size)
    run.finish()
    return TrainResult(trainer.model, history, trainer.metrics)


class BPTTTrainer(Trainer):
    """One optimizer step per batch; the test split evaluated after every epoch (rank 0, whose
    numbers every rank receives)."""

    def __init__(self, cfg: TrainConfig, out: Path, device: torch.device, info: ddp.DistInfo,
                 data, *, quiet: bool) -> None:
        self.cfg, self.out, self.device, self.info, self.quiet = cfg, out, device, info, quiet
        self.tr_x, self.tr_y, self.te_x, self.te_y = data
        self.desc = cfg.model
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model, cfg.num_steps, cfg.hidden,
                                 **cfg.model_options).to(device)
        self.net = self.model  # what a step calls: the model itself, or its DDP wrapper
        if info.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.optimizer = _make_optimizer(cfg, self.model.parameters())
        # model noise (stochastic input) differs per rank; rank 0 draws what one process would
        self.noise = torch.Generator(device=device).manual_seed(
            cfg.seed + 1 + 1_000_003 * info.rank)
        self.n_batches = -(-len(self.tr_y) // cfg.batch_size)
        self.order, self.order_epoch = None, -1
        self.metrics: dict = {}
        self.model.train()

    def train_step(self, step: int) -> dict:
        cfg, info, device = self.cfg, self.info, self.device
        epoch, b = divmod(step, self.n_batches)
        if b == 0 and epoch > 0 and cfg.schedule == "seed":  # the seed re-creates it per epoch
            self.optimizer = _make_optimizer(cfg, self.model.parameters())
        if self.order_epoch != epoch:
            self.order, self.order_epoch = _epoch_order(cfg, epoch, len(self.tr_y)), epoch
        idx = self.order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
        n_global = len(idx)
        idx = ddp.shard(idx, info)
        x, y = _as_float(self.tr_x[idx], device), self.tr_y[idx].to(device)
        lr = cfg.lr_at(epoch, step / (cfg.epochs * self.n_batches))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        # a forward that fails on one rank (a NaN in its shard) stops every rank at once
        with ddp.fail_together(info, f"epoch {epoch + 1}, batch {b}", device), \
                autocast(cfg.precision, device):
            if cfg.learning == "bptt":
                logits = self.net(x, generator=self.noise)
            else:  # e-prop / OTTT fill .grad themselves, one time step at a time
                logits = sequential_grads(self.model, x, y, cfg.learning, self.noise)[1]
        logits = logits.float()  # the loss in fp32 (a no-op unless bf16)
        if info.enabled:
            # sum / global batch * world size: DDP's mean over ranks is then the global
            # batch mean, even when a short last batch splits unevenly
            loss_sum = F.cross_entropy(logits, y, reduction="sum")
            loss = loss_sum * (info.world_size / n_global)
            stats = ddp.all_reduce_sum(torch.stack([
                loss_sum.detach().double(), (logits.argmax(1) == y).sum().double()]))
            loss_value, acc = float(stats[0] / n_global), float(stats[1]) / n_global
        else:
            loss = F.cross_entropy(logits, y)
            loss_value = float(loss.detach())
            acc = float((logits.argmax(1) == y).float().mean())
        if not math.isfinite(loss_value):  # no step on a diverged loss (the loop says why)
            return {"epoch": epoch + 1, "batch": b, "loss": loss_value}
        if cfg.learning == "bptt":
            loss.backward()
        self.optimizer.step()
        return {"epoch": epoch + 1, "batch": b, "loss": loss_value, "accuracy": acc, "lr": lr}

    def end_epoch(self, epoch: int, loop: LoopState) -> dict:
        finite.raise_pending()  # NaN currents the fused CUDA kernels counted (without a sync)
        info, row = self.info, None
        # rank 0 evaluates and reports, the others wait for its numbers; an error of rank 0
        # there reaches every rank at once (fail_together), not after the group's timeout
        with ddp.fail_together(info, f"rank 0's evaluation and report of epoch {epoch}",
                               self.device):
            if info.is_main:
                cfg = self.cfg
                row = _epoch_row(cfg, epoch, loop.batch_log, loop.elapsed, evaluate(
                    self.model, self.te_x, self.te_y, batch_size=cfg.batch_size,
                    seed=cfg.seed, device=self.device, precision=cfg.precision), self.quiet)
                self.metrics = _report(cfg, self.model, [*loop.history, row], loop.batch_log,
                                       self.device, self.out, info.world_size, csv=False)
        if info.enabled:
            row, self.metrics = ddp.broadcast_object(
                (row, self.metrics) if info.is_main else None, info)
        return row

    def state_dict(self, loop: LoopState) -> dict:
        epoch, batch = divmod(loop.step, self.n_batches)
        state = {
            "config": self.cfg.to_dict(), "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "noise_rng": self.noise.get_state(),
            "torch_rng": torch.get_rng_state(), "history": loop.history,
            "batch_log": loop.batch_log, "epoch": epoch, "batch": batch,
            "elapsed": loop.elapsed,
        }
        if self.info.enabled:  # every rank's generators, so each resumes its own stream
            state["world_size"] = self.info.world_size
            state["noise_rng_ranks"] = ddp.gather_objects(self.noise.get_state().cpu(),
                                                          self.info)
            state["torch_rng_ranks"] = ddp.gather_objects(torch.get_rng_state(), self.info)
        return state

    def load_state_dict(self, state: dict) -> LoopState:
        info, path = self.info, self.out / CHECKPOINT
        state = _check_state(state, path)
        saved_world = state.get("world_size", 1)
        if saved_world != info.world_size:
            raise HebbtorchError(
                f"checkpoint {path} was written by {saved_world} process(es); resume it "
                f"with the same number (now {info.world_size})")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            why = (str(e).strip().splitlines() or [""])[0][:160]
            raise HebbtorchError(f"checkpoint {path} does not fit this model ({why})"
                                 ) from None
        noise_rng = state["noise_rng_ranks"][info.rank] if info.enabled else state["noise_rng"]
        torch_rng = state["torch_rng_ranks"][info.rank] if info.enabled else state["torch_rng"]
        self.noise.set_state(noise_rng.to(self.noise.get_state().device))
        torch.set_rng_state(torch_rng)
        return LoopState(state["epoch"] * self.n_batches + state["batch"], state["history"],
                         state["batch_log"], state["elapsed"])


def _epoch_row(cfg: TrainConfig, epoch: int, batch_log: list[dict], elapsed: float,
               test: dict, quiet: bool) -> dict:
    """The history row of finished epoch ``epoch`` (1-based; printed unless quiet)."""
    finite.raise_pending()
    ep = [r for r in batch_log if r["epoch"] == epoch]
    row = {"epoch": epoch, "lr": ep[-1]["lr"] if ep else cfg.lr,
           "train_loss": sum(r["loss"] for r in ep) / max(len(ep), 1),
           "train_accuracy": sum(r["accuracy"] for r in ep) / max(len(ep), 1),
           "test_loss": test["loss"], "test_accuracy": test["accuracy"],
           "wall_time_s": elapsed}
    if not quiet:
        tqdm.write(f"{cfg.model} epoch {epoch}: train loss {row['train_loss']:.4f} "
                   f"acc {row['train_accuracy']:.4f} | test loss {row['test_loss']:.4f} "
                   f"acc {row['test_accuracy']:.4f} | {elapsed:.0f} s")
    return row


REQUIRED = ("config", "model", "optimizer", "noise_rng", "torch_rng", "history", "batch_log",
            "epoch", "batch", "elapsed")


def _check_state(state: dict, path: Path) -> dict:
    """A checkpoint's counters must be plain non-negative numbers (a hand-edited file is
    refused here, not half-way through loading)."""
    for k in ("epoch", "batch"):
        if not isinstance(state[k], int) or state[k] < 0:
            raise HebbtorchError(f"checkpoint {path} is unreadable ({k} = {state[k]!r})")
    if not isinstance(state["history"], list) or not isinstance(state["batch_log"], list):
        raise HebbtorchError(f"checkpoint {path} is unreadable (history is not a list)")
    return state


def _report(cfg: TrainConfig, model, history, batch_log, device, out: Path,
            world_size: int = 1, csv: bool = True) -> dict:
    """metrics.json and learning_curves.png (and the CSVs, which the run loop writes itself
    after each epoch: ``csv=False``)."""
    from hebbtorch.learning import report  # matplotlib: imported when the first epoch ends

    metrics = {
        "config": cfg.to_dict(),
        "spiking": get_spec(cfg.model).spiking,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "precision": cfg.precision,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "history": history,
        "final": history[-1],
    }
    if world_size > 1:
        metrics["world_size"] = world_size
    write_json(out / "metrics.json", metrics)
    if csv:
        report.write_history(out, history, batch_log, title=cfg.model)
    else:
        report.save_figure(report.learning_curves({cfg.model: (history, batch_log)}),
                           out / "learning_curves.png")
    return metrics


def load_trained(run_dir: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, TrainConfig]:
    """Rebuild the model of a run folder from its checkpoint (config + weights)."""
    path = Path(run_dir) / CHECKPOINT
    state = load_checkpoint(path, ("config", "model"))
    try:
        cfg = TrainConfig(**state["config"]).validate()
        model = build_model(cfg.model, cfg.num_steps, cfg.hidden, **cfg.model_options)
        model.load_state_dict(state["model"])
    except (TypeError, RuntimeError, KeyError) as e:
        why = (str(e).strip().splitlines() or [""])[0][:160]
        raise HebbtorchError(f"checkpoint {path} is unreadable ({type(e).__name__}: {why})"
                             ) from None
    return model.to(device).eval(), cfg
