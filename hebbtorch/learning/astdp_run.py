"""aSTDP experiments: train a network with :class:`hebbtorch.learning.astdp.ASTDPNetwork` on an
image data set, write metrics / learning curve / checkpoint, and generate label-conditioned
images scored by a separately trained classifier (a run folder of ``hebbtorch train``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.io import atomic_write, save_figure, write_json
from hebbtorch.learning.astdp import ASTDPConfig, ASTDPNetwork, load_astdp

CHECKPOINT = "checkpoint.pt"


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
                per_class: int = 10, classifier: str | Path | None = None) -> dict:
    """Train by aSTDP; writes ``metrics.json``, ``learning_curve.png``, ``checkpoint.pt``,
    ``generated.png`` (and ``generated_scores.json`` when ``classifier`` is given).

    ``eval_every_epoch``: test samples used for the per-epoch curve (None: all); the final
    accuracy always uses the whole test split (or ``max_test``). ``time_budget_s`` stops training
    at the first batch boundary past the budget (recorded in the metrics)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if epochs < 1 or batch_size < 1:
        raise HebbtorchError("epochs and batch size must be >= 1")
    xtr, ytr = _load(dataset, "train", max_train, data_root)
    xte, yte = _load(dataset, "test", max_test, data_root)
    net = ASTDPNetwork(config, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    history, batches = [], []
    t0 = time.time()
    stopped = False
    n = len(ytr)
    seen = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        accs = []
        for b, i in enumerate(range(0, n, batch_size)):
            idx = order[i:i + batch_size]
            stats = net.train_batch(xtr[idx].float().div(255.0), ytr[idx], g)
            accs.append(stats.get("train_acc", float("nan")))
            seen += len(idx)
            batches.append({"epoch": epoch, "batch": b, **stats})
            if time_budget_s is not None and time.time() - t0 > time_budget_s:
                stopped = True
                break
        m = eval_every_epoch if eval_every_epoch else len(yte)
        ev = net.evaluate(xte[:m], yte[:m], generator=torch.Generator().manual_seed(seed + 2))
        row = {"epoch": epoch, "train_accuracy": sum(accs) / max(len(accs), 1),
               "test_accuracy": ev["accuracy"], "test_recon_mse": ev["recon_mse"],
               "test_samples": min(m, len(yte)), "seconds": time.time() - t0,
               "samples_seen": seen}
        history.append(row)
        if not quiet:
            print(f"epoch {epoch}: train acc {row['train_accuracy']:.3f}, test acc "
                  f"{row['test_accuracy']:.3f} ({row['test_samples']} samples), recon mse "
                  f"{row['test_recon_mse']:.4f}, {row['seconds']:.0f}s", flush=True)
        if stopped:
            break
    train_seconds = time.time() - t0
    final = net.evaluate(xte, yte, generator=torch.Generator().manual_seed(seed + 2))
    state = {"config": config.to_dict(), "model": net.state_dict(), "seed": seed,
             "dataset": dataset}
    atomic_write(out / CHECKPOINT, lambda f: torch.save(state, f))
    save_figure(learning_curve(history, batches, title=f"aSTDP on {dataset}"),
                out / "learning_curve.png")
    gen = generate_report(net, out, per_class=per_class, classifier=classifier, seed=seed)
    metrics = {
        "method": "aSTDP", "dataset": dataset, "config": config.to_dict(), "seed": seed,
        "epochs_run": len(history), "batch_size": batch_size, "train_samples": n,
        "time_budget_s": time_budget_s, "stopped_by_budget": stopped,
        "train_seconds": train_seconds, "torch": torch.__version__,
        "history": history,
        "final": {"test_accuracy": final["accuracy"], "test_recon_mse": final["recon_mse"],
                  "test_samples": len(yte)},
        "generation": gen,
    }
    write_json(out / "metrics.json", metrics)
    if not quiet:
        print(f"aSTDP on {dataset}: test accuracy {100 * final['accuracy']:.2f}% "
              f"({len(yte)} samples) after {train_seconds:.0f}s; report in {out}")
    return metrics


def learning_curve(history: list[dict], batches: list[dict], title: str):
    from hebbtorch.viz.style import figure

    fig, axes = figure(1, 2, width=4.5, height=3.2)
    ax_err, ax_acc = axes[0]
    if batches:
        xs = list(range(1, len(batches) + 1))
        if "label_mse" in batches[0]:
            ax_err.plot(xs, [r["label_mse"] for r in batches], lw=0.8, label="label rate MSE")
        ax_err.plot(xs, [r["recon_mse"] for r in batches], lw=0.8, label="pixel recon MSE")
    ax_err.set(xlabel="batch", ylabel="mean squared rate error", title="local errors (train)")
    ep = [r["epoch"] for r in history]
    ax_acc.plot(ep, [100 * r["train_accuracy"] for r in history], "s--", alpha=0.6, label="train")
    ax_acc.plot(ep, [100 * r["test_accuracy"] for r in history], "o-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=title)
    for ax in (ax_err, ax_acc):
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


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
    from hebbtorch.viz.style import figure

    side = int(round(images.shape[1] ** 0.5))
    if side * side != images.shape[1]:
        raise HebbtorchError(f"cannot show {images.shape[1]} pixels as a square image")
    classes = sorted(set(labels.tolist()))
    per = max(int((labels == c).sum()) for c in classes)
    fig, axes = figure(len(classes), per, width=0.7, height=0.7)
    for r, c in enumerate(classes):
        imgs = images[labels == c]
        for k in range(per):
            ax = axes[r][k]
            ax.axis("off")
            if k < len(imgs):
                ax.imshow(imgs[k].reshape(side, side).cpu(), cmap="gray", vmin=0, vmax=1)
        axes[r][0].text(-0.15, 0.5, str(c), transform=axes[r][0].transAxes, ha="right",
                        va="center", fontsize=7)
    fig.suptitle(title, fontsize=8)
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
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise HebbtorchError(
            f"no {CHECKPOINT} in {run_dir}: run `hebbtorch astdp train` there first")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a corrupt checkpoint
        raise HebbtorchError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e})") from e
    return load_astdp(state)


def generate_command(run_dir: str | Path, out: str | Path | None = None, *, per_class: int = 10,
                     classifier: str | Path | None = None, seed: int = 0) -> dict:
    """Load a trained run, write a generated grid (and classifier scores) to ``out``."""
    net = load_run(run_dir)
    out = Path(out) if out is not None else Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = generate_report(net, out, per_class=per_class, classifier=classifier, seed=seed)
    write_json(out / "generate.json", {"run": str(run_dir), "seed": seed, **summary})
    return json.loads(json.dumps(summary, default=str))
