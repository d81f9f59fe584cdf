"""``hebbtorch calcium``: the calcium-bistable rule (Brader, Senn & Fusi 2007; Girão, Risi &
Chicca 2025). See docs/calcium.md.

    hebbtorch calcium protocols --out docs/img        # fitted sets vs published data + figures
    hebbtorch calcium train --dataset mnist-5k --epochs 2 --out runs/calcium
    hebbtorch calcium train --dataset fashion-mnist --task fashion --train-images 7000
    hebbtorch calcium timing --train-images 1500     # oscillation / continuous presentation

``train`` carves a validation split out of the training images (``--val-images``): the learning
curve is measured on it; the test split is evaluated once, at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hebbtorch.cli.common import (
    add_batch_size,
    add_data,
    add_run,
    add_subsets,
    ensure_out,
    positive_int,
)

TASKS = ("mnist", "mnist-recurrent", "fashion", "fashion-recurrent",  # studies.calcium_supervised
         "mnist-expand", "mnist-expand-recurrent", "fashion-expand", "fashion-expand-recurrent",
         "mnist-local", "mnist-local-recurrent", "fashion-local", "fashion-local-recurrent",
         "fashion-conv", "fashion-local-vote", "fashion-local-vote-recurrent")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calcium", help="calcium-bistable rule: protocols vs data, supervised "
                       "learning with the rule alone", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=("protocols", "train", "timing"),
                   help="protocols: the fitted sets against Sjöström 2001, Bi & Poo 1998 and "
                   "the rate protocol; train: supervised classification; timing: learning "
                   "speed and cross-class overlap with oscillations / continuous presentation "
                   "(mnist-5k, recurrent)")
    p.add_argument("--task-config", default="mnist", choices=sorted(TASKS),
                   help="train: the network configuration (default mnist; fashion adds "
                   "contrast normalisation; *-expand: a fixed random expansion layer of 2000 "
                   "binary features before the plastic one, *-local: 2000 fixed random local "
                   "receptive fields instead, fashion-conv: a conv-STDP network learned without "
                   "labels, fashion-local-vote: Brader's population vote on the local fields, "
                   "20 neurons per class on random halves of the features; all own choices)")
    add_data(p)
    add_batch_size(p, 100, "train: images presented at once, jumps summed (default 100)")
    p.add_argument("--epochs", type=positive_int, default=1)
    add_subsets(p, where="train: ")
    p.add_argument("--val-images", type=positive_int, default=500,
                   help="train, timing: validation images carved out of the training images")
    p.add_argument("--k", type=positive_int, default=None,
                   help="output neurons per class (default: the task's, 10 for most)")
    p.add_argument("--recurrent", type=float, default=None, metavar="W_REC",
                   help="train: within-class recurrent excitation (default: the task's)")
    p.add_argument("--eval-every", type=positive_int, default=1000,
                   help="train: images between validation evaluations (accuracy vs images "
                   "seen)")
    add_run(p, "calcium", resume=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = ensure_out(Path(args.out))
    return {"protocols": lambda: protocols(out), "train": lambda: train(args, out),
            "timing": lambda: timing(args, out)}[args.task]()


def protocols(out: Path) -> int:
    from hebbtorch.io import write_json
    from hebbtorch.plasticity.rules.calcium_bistable import calcium_bistable_parameters
    from hebbtorch.studies.calcium_fit import evaluate, record_protocol
    from hebbtorch.studies.protocols import rate_dependence
    from hebbtorch.studies.stdp_data import BI_POO_1998, SJOSTROM_2001
    from hebbtorch.viz.calcium import plot_calcium_fit, plot_calcium_protocol, plot_rate_curves

    names = ("sjostrom", "sjostrom_bipoo", "bipoo")
    fits = [{"name": n, **evaluate(calcium_bistable_parameters(n), engine=True)} for n in names]
    rates = [rate_dependence("calcium-bistable", n, correlation=0.0) for n in names]
    rec = record_protocol(calcium_bistable_parameters("sjostrom"), 10.0, 12, 40.0)
    write_json(out / "calcium_protocols.json", {"fits": fits, "rate": rates})
    for fig, name in ((plot_calcium_fit(fits, SJOSTROM_2001, BI_POO_1998), "calcium_fit.png"),
                      (plot_rate_curves(rates), "calcium_rate.png"),
                      (plot_calcium_protocol(rec), "calcium_traces.png")):
        fig.savefig(out / name, dpi=120, bbox_inches="tight")
    for f in fits:
        s, b = f["sjostrom"], f["bi_poo"]
        print(f"{f['name']}: Sjöström {s['within_sem']}/10 within one SEM, RMSE "
              f"{s['rmse_vs_data']:.3f}; Bi & Poo RMSE {b['rmse_vs_data']:.3f} "
              f"(no-change model {b['rmse_zero_model']:.3f})")
    print(f"wrote {out}/calcium_protocols.json, calcium_fit.png, calcium_rate.png, "
          "calcium_traces.png")
    return 0


def train(args: argparse.Namespace, out: Path) -> int:
    from hebbtorch.io import write_json
    from hebbtorch.seed import resolve_device
    from hebbtorch.studies.calcium_supervised import TASK_CONFIGS, load_flat, split_validation
    from hebbtorch.studies.calcium_supervised import train as fit
    from hebbtorch.viz.calcium import plot_learning_curves

    device = resolve_device(args.device)
    x, y = load_flat(args.dataset, "train", args.train_images, args.data_root)
    xtr, ytr, xva, yva = split_validation(x, y, args.val_images)
    xte, yte = load_flat(args.dataset, "test", args.test_images, args.data_root)
    cfg, params = TASK_CONFIGS[args.task_config]
    cfg = cfg._replace(batch=args.batch_size, **({} if args.k is None else {"k": args.k}),
                       **({} if args.recurrent is None else {"w_rec": args.recurrent}))
    res: dict[str, Any] = fit(xtr, ytr, xva, yva, xte, yte, n_classes=int(y.max()) + 1,
                              config=cfg, params=params, epochs=args.epochs, seed=args.seed,
                              eval_every=args.eval_every, device=device,
                              log=None if args.quiet else print)
    res |= {"name": f"{args.dataset} {'recurrent' if cfg.w_rec else 'feed-forward'}",
            "dataset": args.dataset, "device": str(device)}
    write_json(out / "calcium_train.json", res)
    plot_learning_curves([res]).savefig(out / "calcium_learning.png", dpi=120, bbox_inches="tight")
    t = res["test"]
    print(f"test accuracy {100 * t['accuracy']:.2f} % ({res['n_test']} images; validation "
          f"{100 * res['final']['accuracy']:.2f} %), mean rate {t['mean_rate_hz']:.1f} Hz, "
          f"output coding level {t['coding_level_out']:.3f}; wrote {out}/calcium_train.json")
    return 0


def timing(args: argparse.Namespace, out: Path) -> int:
    from hebbtorch.io import write_json
    from hebbtorch.studies.calcium_supervised import TASK_CONFIGS, load_flat, split_validation
    from hebbtorch.studies.calcium_timing import timing_study

    x, y = load_flat("mnist-5k", "train", args.train_images)
    xtr, ytr, xva, yva = split_validation(x, y, args.val_images)
    cfg, params = TASK_CONFIGS["mnist-recurrent"]
    cfg = cfg._replace(batch=args.batch_size, **({} if args.k is None else {"k": args.k}))
    rows = timing_study(xtr, ytr, xva, yva, cfg, params, seeds=(args.seed,),
                        eval_every=args.eval_every, log=None if args.quiet else print)
    write_json(out / "calcium_timing.json", {"rows": rows})
    for r in rows:
        print(f"{r['condition']}: validation {100 * r['validation']['accuracy_mean']:.1f} %, "
              f"|dX| per image {r['abs_dX_first_mean']:.3g}, cross-class overlap "
              f"{r['overlap_mean']:.3f}, input rate {r['train_rate_input_hz_mean']:.2f} Hz")
    print(f"wrote {out}/calcium_timing.json")
    return 0
