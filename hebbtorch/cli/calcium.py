"""``hebbtorch calcium``: the calcium-bistable rule (Brader, Senn & Fusi 2007; Girão, Risi &
Chicca 2025). See docs/calcium.md.

    hebbtorch calcium protocols --out docs/img        # fitted sets vs published data + figures
    hebbtorch calcium train --dataset mnist-5k --epochs 3 --out runs/calcium
    hebbtorch calcium train --dataset fashion-mnist --train-images 10000 --recurrent 0.05
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calcium", help="calcium-bistable rule: protocols vs data, supervised "
                       "learning with the rule alone", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=("protocols", "train"),
                   help="protocols: the fitted sets against Sjöström 2001, Bi & Poo 1998 and "
                   "the rate protocol; train: supervised classification")
    add_data(p)
    add_batch_size(p, 100, "train: images presented at once, jumps summed (default 100)")
    p.add_argument("--epochs", type=positive_int, default=1)
    add_subsets(p, test_default=1000)
    p.add_argument("--k", type=positive_int, default=10, help="output neurons per class")
    p.add_argument("--recurrent", type=float, default=0.0, metavar="W_REC",
                   help="train: within-class recurrent excitation (default 0: feed-forward)")
    p.add_argument("--eval-every", type=positive_int, default=1000,
                   help="train: images between test evaluations (accuracy vs images seen)")
    add_run(p, "calcium", resume=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = ensure_out(Path(args.out))
    return protocols(out) if args.task == "protocols" else train(args, out)


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
    from hebbtorch.studies.calcium_supervised import SupervisedConfig, load_flat
    from hebbtorch.studies.calcium_supervised import train as fit
    from hebbtorch.viz.calcium import plot_learning_curves

    device = resolve_device(args.device)
    xtr, ytr = load_flat(args.dataset, "train", args.train_images, args.data_root)
    xte, yte = load_flat(args.dataset, "test", args.test_images, args.data_root)
    cfg = SupervisedConfig(k=args.k, batch=args.batch_size, w_rec=args.recurrent)
    res: dict[str, Any] = fit(xtr, ytr, xte, yte, n_classes=int(ytr.max()) + 1, config=cfg,
                              epochs=args.epochs, seed=args.seed, eval_every=args.eval_every,
                              device=device, log=None if args.quiet else print)
    res |= {"name": f"{args.dataset} {'recurrent' if args.recurrent else 'feed-forward'}",
            "dataset": args.dataset, "device": str(device)}
    write_json(out / "calcium_train.json", res)
    plot_learning_curves([res]).savefig(out / "calcium_learning.png", dpi=120, bbox_inches="tight")
    f = res["final"]
    print(f"test accuracy {100 * f['accuracy']:.2f} % ({res['n_test']} images), mean rate "
          f"{f['mean_rate_hz']:.1f} Hz, output coding level {f['coding_level_out']:.3f}; "
          f"wrote {out}/calcium_train.json")
    return 0
