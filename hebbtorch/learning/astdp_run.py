"""aSTDP experiments: train a network with :class:`hebbtorch.learning.astdp.ASTDPNetwork` on an
image data set, write metrics / learning curve / checkpoint, and generate label-conditioned
images scored by a separately trained classifier (a run folder of ``hebbtorch train``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from tqdm.auto import tqdm

from hebbtorch.data.preflight import check_splits
from hebbtorch.errors import HebbtorchError
from hebbtorch.io import save_figure, write_json
from hebbtorch.learning.astdp import ASTDPConfig, ASTDPNetwork, load_astdp
from hebbtorch.learning.run import (
    CHECKPOINT,
    Budget,
    LoopState,
    RunFolder,
    Schedule,
    Trainer,
    load_checkpoint,
    run_loop,
)


def _load(dataset: str, split: str, limit: int | None, data_root: str | None):
    from hebbtorch.data import load_dataset

    ds = load_dataset(dataset, split=split, root=data_root)
    images, labels = ds.images, ds.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def train_astdp(config: ASTDPConfig, out: str | Path, *, dataset: str = "mnist-5k",
                epochs: int = 5, batch_size: int = 100, max_train: int | None = None,
                max_test: int | None = None, eval_every_epoch: int | None = 1000,
                time_budget_s: float | None = None, seed: int = 0,
                data_root: str | None = None, quiet: bool = False,
                per_class: int = 10, classifier: str | Path | None = None,
                resume: bool = False, overwrite: bool = False) -> dict:
    """Train by aSTDP; writes ``metrics.json``, ``learning_curve.png``, ``checkpoint.pt``
    (after every epoch: ``resume=True`` continues exactly), ``generated.png`` (and
    ``generated_scores.json`` when ``classifier`` is given). ``out`` is a
    :class:`~hebbtorch.learning.run.RunFolder` (``overwrite`` replaces an earlier run).

    ``eval_every_epoch``: test samples used for the per-epoch curve (None: all); the final
    accuracy always uses the whole test split (or ``max_test``). ``time_budget_s`` stops training
    at the first batch boundary past that many seconds of this call (recorded in the metrics;
    the run stays unfinished, ``resume`` goes on from that batch)."""
    if epochs < 1 or batch_size < 1:
        raise HebbtorchError("epochs and batch size must be >= 1")
    budget = Budget(time_budget_s)
    xtr, ytr = _load(dataset, "train", max_train, data_root)
    xte, yte = _load(dataset, "test", max_test, data_root)
    shape = check_splits(xtr, ytr, xte, yte, dataset, max_classes=config.sizes[-1])
    pixels = math.prod(shape.image_shape)
    if pixels != config.sizes[0]:
        raise HebbtorchError(f"{dataset}: images of {pixels} pixels, the network takes "
                             f"{config.sizes[0]}")
    run_config = {"astdp": config.to_dict(), "dataset": dataset, "epochs": epochs,
                  "batch_size": batch_size, "max_train": max_train, "max_test": max_test,
                  "eval_every_epoch": eval_every_epoch, "seed": seed}
    with RunFolder(out, "astdp train", run_config, resume=resume,
                   overwrite=overwrite) as folder:
        return _train(folder, config, run_config, xtr, ytr, xte, yte, budget, quiet=quiet,
                      per_class=per_class, classifier=classifier)


class _ASTDPTrainer(Trainer):
    """One aSTDP update per batch; the test samples evaluated after every epoch."""

    desc = "aSTDP"

    def __init__(self, config: ASTDPConfig, run_config: dict, data, quiet: bool) -> None:
        self.run_config, self.quiet = run_config, quiet
        self.xtr, self.ytr, self.xte, self.yte = data
        self.seed, self.batch_size = run_config["seed"], run_config["batch_size"]
        self.net = ASTDPNetwork(config, seed=self.seed)
        self.g = torch.Generator().manual_seed(self.seed + 1)
        self.n_batches = -(-len(self.ytr) // self.batch_size)
        self.order, self.order_epoch, self.seen = None, -1, 0

    def train_step(self, step: int) -> dict:
        epoch, b = divmod(step, self.n_batches)
        if self.order_epoch != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 1)
            self.order, self.order_epoch = torch.randperm(len(self.ytr), generator=g), epoch
        idx = self.order[b * self.batch_size:(b + 1) * self.batch_size]
        stats = self.net.train_batch(self.xtr[idx].float().div(255.0), self.ytr[idx], self.g)
        self.seen += len(idx)
        return {"epoch": epoch + 1, "batch": b, **stats}

    def postfix(self, row: dict) -> dict:
        return {"acc": f"{row['train_acc']:.3f}"} if "train_acc" in row else {}

    def end_epoch(self, epoch: int, loop: LoopState) -> dict:
        m = self.run_config["eval_every_epoch"] or len(self.yte)
        ev = self.net.evaluate(self.xte[:m], self.yte[:m],
                               generator=torch.Generator().manual_seed(self.seed + 2))
        accs = [r.get("train_acc", float("nan")) for r in loop.batch_log if r["epoch"] == epoch]
        row = {"epoch": epoch, "train_accuracy": sum(accs) / max(len(accs), 1),
               "test_accuracy": ev["accuracy"], "test_recon_mse": ev["recon_mse"],
               "test_samples": min(m, len(self.yte)), "seconds": loop.elapsed,
               "samples_seen": self.seen}
        if not self.quiet:
            tqdm.write(f"epoch {epoch}: train acc {row['train_accuracy']:.3f}, test acc "
                       f"{row['test_accuracy']:.3f} ({row['test_samples']} samples), recon mse "
                       f"{row['test_recon_mse']:.4f}, {row['seconds']:.0f}s")
        return row

    def state_dict(self, loop: LoopState) -> dict:
        return {"config": self.run_config, "model": self.net.state_dict(),
                "rng": self.g.get_state(), "history": loop.history, "batches": loop.batch_log,
                "seen": self.seen, "seconds": loop.elapsed, "seed": self.seed,
                "batch": loop.step - len(loop.history) * self.n_batches,
                "astdp_config": self.net.config.to_dict()}

    def load_state_dict(self, state: dict) -> LoopState:
        self.net.load_state_dict(state["model"])
        self.g.set_state(state["rng"])
        self.seen = state["seen"]
        # "batch": the position inside an epoch (checkpoints before it: epoch ends only)
        step = len(state["history"]) * self.n_batches + state.get("batch", 0)
        return LoopState(step, state["history"], state["batches"], state["seconds"])


def _train(folder: RunFolder, config: ASTDPConfig, run_config: dict, xtr, ytr, xte, yte,
           budget: Budget, *, quiet: bool, per_class: int, classifier) -> dict:
    out, dataset, seed = folder.path, run_config["dataset"], run_config["seed"]
    trainer = _ASTDPTrainer(config, run_config, (xtr, ytr, xte, yte), quiet)
    n = trainer.n_batches
    end = run_loop(folder, trainer, Schedule(run_config["epochs"] * n, n), quiet=quiet,
                   time_budget_s=budget.seconds,
                   required=("config", "model", "rng", "history", "batches", "seen",
                             "seconds"))
    history, stopped, net = end.loop.history, end.stopped, trainer.net
    train_seconds = end.loop.elapsed
    final = net.evaluate(xte, yte, generator=torch.Generator().manual_seed(seed + 2))
    save_figure(learning_curve(history, end.loop.batch_log, title=f"aSTDP on {dataset}"),
                out / "learning_curve.png")
    gen = generate_report(net, out, per_class=per_class, classifier=classifier, seed=seed)
    metrics = {
        "method": "aSTDP", "dataset": dataset, "config": config.to_dict(), "seed": seed,
        "epochs_run": len(history), "batch_size": run_config["batch_size"],
        "train_samples": len(ytr), "time_budget_s": budget.seconds,
        "stopped_by_budget": stopped, "train_seconds": train_seconds,
        "torch": torch.__version__, "history": history,
        "final": {"test_accuracy": final["accuracy"], "test_recon_mse": final["recon_mse"],
                  "test_samples": len(yte)},
        "generation": gen,
    }
    write_json(out / "metrics.json", metrics)
    if not stopped:
        folder.finish()
    if not quiet:
        print(f"aSTDP on {dataset}: test accuracy {100 * final['accuracy']:.2f}% "
              f"({len(yte)} samples) after {train_seconds:.0f}s; report in {out}")
    return metrics


def learning_curve(history: list[dict], batches: list[dict], title: str):
    from hebbtorch.viz.training import astdp_curves

    return astdp_curves(history, batches, title)


@torch.no_grad()
def generate_images(net: ASTDPNetwork, per_class: int,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images per label: images ``[n_labels * per_class, n_pixels]``, labels."""
    if per_class < 1:
        raise HebbtorchError(f"per_class must be >= 1, got {per_class}")
    n_labels = net.config.sizes[-1]
    labels = torch.arange(n_labels).repeat_interleave(per_class)
    g = torch.Generator().manual_seed(seed + 3)
    return net.generate(labels, g), labels


def save_grid(images: torch.Tensor, labels: torch.Tensor, path: str | Path, *,
              title: str = "aSTDP: generated images (one row per clamped label)") -> Path:
    """Rows = labels, columns = samples; images ``[N, 784]`` (square side inferred)."""
    from hebbtorch.viz.training import image_grid

    side = int(round(images.shape[1] ** 0.5))
    if side * side != images.shape[1]:
        raise HebbtorchError(f"cannot show {images.shape[1]} pixels as a square image")
    fig = image_grid(images, labels, title)
    return save_figure(fig, path)


@torch.no_grad()
def score_generated(images: torch.Tensor, labels: torch.Tensor, classifier: str | Path) -> dict:
    """Fraction of generated images that a ``hebbtorch train`` run classifies as their label."""
    from hebbtorch.learning.bptt import load_trained

    model, cfg = load_trained(classifier)
    side = int(round(images.shape[1] ** 0.5))
    logits = model(images.reshape(-1, side, side).float(),
                   generator=torch.Generator().manual_seed(0))
    pred = logits.argmax(1)
    per_class = {int(c): float((pred[labels == c] == c).float().mean())
                 for c in sorted(set(labels.tolist()))}
    return {"classifier": str(classifier), "classifier_model": cfg.model,
            "classifier_dataset": cfg.dataset, "fraction_as_clamped_label":
            float((pred == labels).float().mean()), "per_class": per_class,
            "images": int(len(labels))}


def generate_report(net: ASTDPNetwork, out: str | Path, *, per_class: int = 10,
                    classifier: str | Path | None = None, seed: int = 0) -> dict:
    """Write ``generated.png`` (+ ``generated_scores.json`` with a classifier); return a summary."""
    out = Path(out)
    images, labels = generate_images(net, per_class, seed)
    save_grid(images, labels, out / "generated.png")
    first = images[labels == 0]
    other = images[labels != 0]
    summary = {"grid": str(out / "generated.png"), "per_class": per_class,
               "mean_abs_difference_between_classes": float(
                   (first.mean(0, keepdim=True) - other).abs().mean()) if len(other) else 0.0}
    if classifier is not None:
        summary["scores"] = score_generated(images, labels, classifier)
        write_json(out / "generated_scores.json", summary["scores"])
    return summary


def load_run(run_dir: str | Path) -> ASTDPNetwork:
    state = load_checkpoint(Path(run_dir) / CHECKPOINT, ("model",))
    # run folders save the network's config beside the run's; older ones as "config"
    return load_astdp({**state, "config": state.get("astdp_config", state.get("config"))})


def generate_command(run_dir: str | Path, out: str | Path | None = None, *, per_class: int = 10,
                     classifier: str | Path | None = None, seed: int = 0) -> dict:
    """Load a trained run, write a generated grid (and classifier scores) to ``out``."""
    net = load_run(run_dir)
    out = Path(out) if out is not None else Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = generate_report(net, out, per_class=per_class, classifier=classifier, seed=seed)
    write_json(out / "generate.json", {"run": str(run_dir), "seed": seed, **summary})
    return json.loads(json.dumps(summary, default=str))
