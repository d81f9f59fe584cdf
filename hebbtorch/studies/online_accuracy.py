"""BPTT vs e-prop vs OTTT on the same network and budget: cue accumulation (recurrent ALIF) and
Fashion-MNIST (feed-forward LIF, direct current input), several seeds; JSON report.

    python -m hebbtorch.studies.online_accuracy [--seeds 0 1 2] [--out FILE]
    python -m hebbtorch.studies.online_accuracy --tasks cue-accumulation-tau60 --split validation
    python -m hebbtorch.studies.online_accuracy --merge A.json B.json --out FILE

The cue task's network follows Bellec et al. 2020 (recurrent ALIF, firing-rate regularisation);
all three rules train it, OTTT with the presynaptic traces of the input and recurrent spikes.
The ``cue-accumulation-*`` variants change one thing for every rule alike (the membrane time
constant, no adaptation, the cue-to-recall delay); choices between them are made on validation
trials (``--split validation``), and the test trials are used once.

The budgets are small (sized for a shared CPU); the numbers they give are what such a budget
reaches, not the methods' best.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from hebbtorch.data.cue_accumulation import cue_accumulation
from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.online import grads
from hebbtorch.learning.online_net import OnlineSNN, RateReg

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # x [T, B, n], labels [B], weights [T]


def cue_task(*, tau_m: float = 20.0, neuron: str = "alif", delay_steps: int = 20) -> dict:
    """The cue-accumulation configuration (times in steps): Bellec et al.'s recurrent ALIF network
    at a small scale (tau_m 20, tau_a 200, tau_out 10, rate-regularised). The variants change
    the membrane time constant ``tau_m``, drop the adaptation (``neuron="lif"``) or change the
    cue-to-recall delay, for every method alike."""
    return dict(
        net=dict(sizes=(40, 50, 2), neuron=neuron, recurrent=True, beta=math.exp(-1 / tau_m),
                 rho=math.exp(-1 / 200), adapt_scale=20.0, kappa=math.exp(-1 / 10),
                 threshold=0.5),
        trial=dict(delay_steps=delay_steps), tau_m=tau_m,
        methods=("bptt", "eprop", "ottt"), updates=600, batch=32, lr=0.005,
        rate_reg=dict(c_reg=1.0, f_target=0.05), test_trials=1000, validation_trials=500)


TASKS: dict[str, dict] = {
    "cue-accumulation": cue_task(),
    # the same task on networks whose membrane spans the cue-to-recall gap, and without adaptation
    **{f"cue-accumulation-tau{t}": cue_task(tau_m=t) for t in (40, 60)},
    "cue-accumulation-lif": cue_task(neuron="lif"),
    # accuracy against the delay between the last cue and the recall (20 is the default task)
    **{f"cue-accumulation-delay{d}": cue_task(delay_steps=d) for d in (0, 10, 40)},
    "fashion-mnist": dict(
        net=dict(sizes=(784, 100, 10), neuron="lif", beta=0.9, kappa=0.5),
        methods=("bptt", "eprop", "ottt"), updates=200, batch=50, lr=2e-3, steps=6,
        train_images=10000, test_images=2000),
}
SPLITS = ("test", "validation")
_GAP_STEPS = inspect.signature(cue_accumulation).parameters["gap_steps"].default


def _cue_data(cfg: dict, seed: int, split: str = "test"):
    """Fresh training trials per update; held-out test trials (seed 10,000 + seed) or validation
    trials (seed 20,000 + seed), neither ever trained on."""
    trial = cfg.get("trial", {})

    def train_batch(i: int) -> Batch:
        return cue_accumulation(cfg["batch"], seed=1_000_003 * seed + i + 1, **trial)

    if split == "validation":
        return train_batch, cue_accumulation(cfg["validation_trials"], seed=20_000 + seed, **trial)
    return train_batch, cue_accumulation(cfg["test_trials"], seed=10_000 + seed, **trial)


def _fashion_data(cfg: dict, seed: int, split: str = "test"):
    if split != "test":
        raise HebbtorchError("fashion-mnist has no validation split in this study (test only)")
    from hebbtorch.data import load_dataset

    T = cfg["steps"]
    tr, te = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(tr.labels), generator=g)[:cfg["train_images"]]
    w = torch.full((T,), 1.0 / T)

    def frames(images: torch.Tensor) -> torch.Tensor:
        flat = images.float().div(255.0).reshape(len(images), -1)
        return flat.unsqueeze(0).expand(T, *flat.shape)

    def train_batch(i: int) -> Batch:
        start = (i * cfg["batch"]) % len(order)
        idx = order[start:start + cfg["batch"]]
        return frames(tr.images[idx]), tr.labels[idx].long(), w

    n = cfg["test_images"]
    return train_batch, (frames(te.images[:n]), te.labels[:n].long(), w)


def _data(task: str) -> Callable:
    return _fashion_data if task == "fashion-mnist" else _cue_data


@torch.no_grad()
def accuracy(net: OnlineSNN, test: Batch, chunk: int = 500) -> float:
    """Accuracy of ``argmax_k sum_t w_t y_k^t`` (the readout where the loss looks)."""
    x, labels, w = test
    correct = 0
    for i in range(0, x.shape[1], chunk):
        y = net(x[:, i:i + chunk])
        logits = (w.to(y.dtype)[:, None, None] * y).sum(0)
        correct += int((logits.argmax(1) == labels[i:i + chunk]).sum())
    return correct / x.shape[1]


def run_one(task: str, learning: str, seed: int, save_dir: str | None = None,
            split: str = "test", updates: int | None = None) -> dict:
    """Train ``task``'s network by ``learning`` from seed ``seed``; accuracy on the ``split``
    (validation: for choices; test: once, for the reported number). ``updates`` overrides the
    task's budget (tests only)."""
    if split not in SPLITS:
        raise HebbtorchError(f"split must be one of {SPLITS}, got {split!r}")
    cfg = TASKS[task]
    train_batch, test = _data(task)(cfg, seed, split)
    torch.manual_seed(seed)
    net = OnlineSNN(**cfg["net"])
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    reg = RateReg(**cfg["rate_reg"]) if "rate_reg" in cfg else None
    t0, losses = time.perf_counter(), []
    for i in range(cfg["updates"] if updates is None else updates):
        x, labels, w = train_batch(i)
        opt.zero_grad(set_to_none=True)
        loss, _ = grads(net, x, labels, learning, w, keep_readout=False, rate_reg=reg)
        opt.step()
        losses.append(float(loss))
    seconds = time.perf_counter() - t0
    if save_dir:  # the trained weights, for the eligibility-window study (online_stdp)
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), Path(save_dir) / f"{task}-{learning}-seed{seed}.pt")
    return {"task": task, "learning": learning, "seed": seed,
            f"{split}_accuracy": accuracy(net, test), "split": split,
            "final_train_loss": sum(losses[-20:]) / len(losses[-20:]),
            "train_seconds": seconds}


def gradient_agreement(task: str, seed: int = 0) -> dict:
    """Online vs BPTT gradients (float32, the study's first batch, initial weights): the largest
    difference relative to BPTT's largest entry, and the cosine, per parameter."""
    cfg = TASKS[task]
    train_batch, _ = _data(task)(cfg, seed)
    torch.manual_seed(seed)
    net = OnlineSNN(**cfg["net"])
    x, labels, w = train_batch(0)
    got = {}
    for m in ("bptt", *cfg["methods"][1:]):
        net.zero_grad(set_to_none=True)
        grads(net, x, labels, m, w, keep_readout=False)
        got[m] = {k: p.grad.clone() for k, p in net.named_parameters()}
    return {m: {k: {"max_rel_diff": float((g - got["bptt"][k]).abs().max()
                                          / got["bptt"][k].abs().max()),
                    "cosine": float(torch.nn.functional.cosine_similarity(
                        g.flatten(), got["bptt"][k].flatten(), 0))}
                for k, g in gs.items()} for m, gs in got.items() if m != "bptt"}


def summarise(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:  # validation rows apart, under "TASK/validation"
        split = r.get("split", "test")
        key = r["task"] if split == "test" else f"{r['task']}/{split}"
        out.setdefault(key, {}).setdefault(r["learning"], []).append(r[f"{split}_accuracy"])
    return {task: {m: {"mean": sum(a) / len(a),
                       "sd": (sum((v - sum(a) / len(a)) ** 2 for v in a) / max(len(a) - 1, 1))
                       ** 0.5, "n": len(a)} for m, a in ms.items()}
            for task, ms in out.items()}


def delay_curve(reports: list[dict], seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Test accuracies of the cue task against the gap between the last cue and the recall
    (``delay_steps`` + the gap after a cue), per method, from reports holding the default task
    (delay 20) and its ``cue-accumulation-delay*`` variants."""
    acc: dict = {}
    for rep in reports:
        for r in rep["rows"]:
            if r.get("split", "test") == "test" and r["seed"] in seeds and (
                    r["task"] == "cue-accumulation" or r["task"].startswith(
                        "cue-accumulation-delay")):
                trial = TASKS[r["task"]]["trial"]
                gap = trial["delay_steps"] + trial.get("gap_steps", _GAP_STEPS)
                acc.setdefault(r["learning"], {}).setdefault(gap, []).append(r["test_accuracy"])
    gaps = sorted({g for per in acc.values() for g in per})
    names = {"bptt": "BPTT", "eprop": "e-prop", "ottt": "OTTT"}
    return {"gap": gaps, "methods": {names.get(m, m): [per.get(g, []) for g in gaps]
                                     for m, per in acc.items()}}


def merge(files: list[str], out: str) -> None:
    """One report from several (e.g. one process per seed): rows keyed by (task, learning,
    seed), later files replacing earlier ones; summary recomputed."""
    reports = [json.loads(Path(f).read_text()) for f in files]
    rows = {(r["task"], r["learning"], r["seed"], r.get("split", "test")): r
            for rep in reports for r in rep["rows"]}
    result = {**reports[-1], "tasks": {t: c for rep in reports for t, c in rep["tasks"].items()},
              "rows": list(rows.values()), "summary": summarise(list(rows.values())),
              "command": [c for rep in reports for c in (
                  rep["command"] if isinstance(rep["command"], list) else [rep["command"]])]}
    Path(out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="BPTT vs e-prop vs OTTT accuracy")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tasks", nargs="+", default=["cue-accumulation", "fashion-mnist"],
                    choices=list(TASKS), help="the cue-accumulation-* variants on request")
    ap.add_argument("--out", default="bench/results/online-accuracy.json")
    ap.add_argument("--check-gradients", action="store_true",
                    help="only compare the first batch's gradients with BPTT's (float32)")
    ap.add_argument("--learning", nargs="+", help="only these methods (default: the task's)")
    ap.add_argument("--save-dir", help="save each trained network's state_dict here")
    ap.add_argument("--split", default="test", choices=SPLITS,
                    help="evaluate on held-out validation trials (for choices) or the test set")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="combine the rows of these reports (later files win) into --out")
    ap.add_argument("--delay-figure", metavar="PNG",
                    help="draw the cue task's accuracy against the delay from the --merge "
                         "reports into PNG (nothing is trained)")
    args = ap.parse_args(argv)
    if args.delay_figure:
        from hebbtorch.io import save_figure
        from hebbtorch.viz.online import delay_figure

        if not args.merge:
            raise HebbtorchError("--delay-figure needs the reports to read (--merge A.json ...)")
        reports = [json.loads(Path(f).read_text()) for f in args.merge]
        save_figure(delay_figure(delay_curve(reports)), args.delay_figure)
        print(f"wrote {args.delay_figure}")
        return
    if args.merge:
        merge(args.merge, args.out)
        return
    torch.set_num_threads(1)
    if args.check_gradients:
        res = {t: gradient_agreement(t) for t in args.tasks}
        res["command"] = ("python -m hebbtorch.studies.online_accuracy --check-gradients "
                          f"--tasks {' '.join(args.tasks)} --out {args.out}")
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
        print(json.dumps(res, indent=1))
        return
    rows = []
    for task in args.tasks:
        for seed in args.seeds:
            for learning in TASKS[task]["methods"]:
                if args.learning and learning not in args.learning:
                    continue
                rows.append(run_one(task, learning, seed, args.save_dir, args.split))
                r = rows[-1]
                acc = r[f"{args.split}_accuracy"]
                print(f"{task} {learning:12s} seed {seed}: {args.split} {100 * acc:.1f} % "
                      f"({r['train_seconds']:.0f} s)", flush=True)
    result = {"tasks": {t: TASKS[t] for t in args.tasks}, "rows": rows,
              "summary": summarise(rows), "threads": 1, "torch": torch.__version__,
              "python": platform.python_version(),
              "command": "python -m hebbtorch.studies.online_accuracy "
                         f"--seeds {' '.join(map(str, args.seeds))} --tasks {' '.join(args.tasks)}"
                         + (f" --learning {' '.join(args.learning)}" if args.learning else "")
                         + (f" --split {args.split}" if args.split != "test" else "")
                         + f" --out {args.out}",
              "load": "shared 2-core CPU machine under load; seconds indicative"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
