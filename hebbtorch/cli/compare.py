"""``hebbtorch compare``: a spiking model and its non-spiking twin, same sizes, data and budget."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from hebbtorch.cli.common import add_run, ensure_out, seed_int
from hebbtorch.cli.train_args import add_train_args, config_from_args
from hebbtorch.errors import HebbtorchError
from hebbtorch.io import save_figure, write_json, write_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="spiking vs non-spiking twin: a table and a plot",
                       description="Train --model and its twin (e.g. seed-snn and seed-ann) with "
                       "the same data, epochs, batch size and optimiser, for each seed.")
    add_train_args(p)
    add_run(p, "compare")
    p.add_argument("--seeds", type=seed_int, nargs="+", default=None,
                   help="several seeds: report mean ± std (default: --seed)")
    p.set_defaults(func=run)


def compare(args: argparse.Namespace, out: Path) -> dict:
    from hebbtorch.learning.bptt import train
    from hebbtorch.networks.registry import ENCODED, get_spec
    from hebbtorch.viz.training import learning_curves

    twin = get_spec(args.model).twin
    seeds = args.seeds or [args.seed]
    results: dict[str, list[dict]] = {args.model: [], twin: []}
    curves = {}
    for name in (args.model, twin):
        for seed in seeds:
            cfg = config_from_args(args, model=name, seed=seed)
            if name not in ENCODED:  # the non-spiking twin sees the image itself
                cfg.model_options["encoder"] = None
            run_dir = out / f"{name}-seed{seed}"
            res = train(cfg, run_dir, resume=args.resume, overwrite=args.overwrite,
                        quiet=args.quiet, time_budget_s=args.time_budget)
            if "stopped_at" in res.metrics:
                raise HebbtorchError(f"{run_dir} stopped by --time-budget before its end; "
                                     "continue with the same command plus --resume")
            m = res.metrics
            results[name].append({"seed": seed, **m["final"], "parameters": m["parameters"]})
            if seed == seeds[0]:
                curves[name] = (m["history"], _batches(run_dir))
    summary = {"dataset": args.dataset, "epochs": args.epochs, "seeds": seeds, "models": {}}
    for name, rows in results.items():
        acc = [100 * r["test_accuracy"] for r in rows]
        summary["models"][name] = {
            "spiking": get_spec(name).spiking,
            "test_accuracy_mean": statistics.fmean(acc),
            "test_accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "test_loss_mean": statistics.fmean(r["test_loss"] for r in rows),
            "train_time_s_mean": statistics.fmean(r["wall_time_s"] for r in rows),
            "parameters": rows[0]["parameters"],
            "runs": rows,
        }
    write_json(out / "comparison.json", summary)
    table = comparison_table(summary)
    write_text(out / "comparison.md", table + "\n")
    save_figure(learning_curves(curves), out / "comparison.png")
    return summary


def _batches(run_dir: Path) -> list[dict]:
    import csv

    with open(run_dir / "batches.csv") as f:
        return [{k: float(v) if k in ("loss", "accuracy", "lr") else int(v) for k, v in r.items()}
                for r in csv.DictReader(f)]


def comparison_table(summary: dict) -> str:
    n = len(summary["seeds"])
    # one seed has no spread to report: its accuracy alone, not "± 0.00"
    what = f"mean ± std, {n} seeds" if n > 1 else "1 seed"

    def acc(m: dict) -> str:
        mean = f"{m['test_accuracy_mean']:.2f}"
        return f"{mean} ± {m['test_accuracy_std']:.2f}" if n > 1 else mean

    head = (f"| model | spiking | parameters | test accuracy (%) {what} "
            "| test loss | train time (s) |\n|---|---|---|---|---|---|")
    rows = [
        f"| {name} | {'yes' if m['spiking'] else 'no'} | {m['parameters']:,} | {acc(m)} | "
        f"{m['test_loss_mean']:.4f} | {m['train_time_s_mean']:.0f} |"
        for name, m in summary["models"].items()
    ]
    return "\n".join([head, *rows])


def run(args: argparse.Namespace) -> int:
    out = ensure_out(args.out)
    summary = compare(args, out)
    print(comparison_table(summary))
    print(f"report: {out}/comparison.json, comparison.md, comparison.png")
    return 0
