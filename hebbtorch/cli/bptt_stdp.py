"""``hebbtorch bptt-stdp``: does backpropagation engender STDP? Runs the two-neuron protocols
(every neuron x loss, the seed's LTD options, the plasticity rules on the same axes), optionally
a trained seed run (``--run``) and a short training with per-epoch histograms (``--epochs``);
writes figures, ``bptt_stdp.json`` (fitted windows) and ``bptt_stdp_curves.json``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hebbtorch.cli.common import (
    add_batch_size,
    add_data,
    add_renamed,
    add_run,
    add_subsets,
    ensure_out,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    from hebbtorch.studies.bptt_stdp import LOSSES, NEURONS
    from hebbtorch.studies.gradient_timing import MODES

    p = sub.add_parser("bptt-stdp", help="measure the STDP-like window of BPTT weight updates")
    p.add_argument("--run", type=Path, default=None,
                   help="a run folder of `hebbtorch train` (seed-snn) to analyse")
    p.add_argument("--batches", type=positive_int, default=3, help="test batches for --run")
    add_batch_size(p, 100)
    p.add_argument("--epochs", type=int, default=0,
                   help="also train a fresh seed net this many epochs, histogram per epoch")
    add_subsets(p, 500, test=False, where="--epochs: ")
    add_data(p)
    p.add_argument("--neuron", nargs="+", choices=NEURONS, default=list(NEURONS),
                   help="neuron models to measure (default: all)")
    add_renamed(p, "--neuron")
    p.add_argument("--losses", nargs="+", choices=LOSSES, default=list(LOSSES))
    p.add_argument("--max-dt", type=positive_int, default=60, help="sweep Δt in [-max, max] ms")
    p.add_argument("--no-rules", action="store_true",
                   help="skip the plasticity rules' windows (pair, triplet, GB, calcium)")
    p.add_argument("--only-run", action="store_true",
                   help="skip the two-neuron protocols (analyse --run / --epochs only)")
    p.add_argument("--mode", choices=MODES, default="nearest",
                   help="which post spike a gradient term is attributed to")
    add_run(p, "bptt-stdp", resume=False, device=False, quiet=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hebbtorch.errors import HebbtorchError
    from hebbtorch.studies.bptt_stdp import ProtocolConfig, run_study

    if args.only_run and args.run is None and args.epochs == 0:
        raise HebbtorchError("--only-run needs --run DIR or --epochs N")
    if args.epochs < 0:
        raise HebbtorchError(f"--epochs must be >= 0, got {args.epochs}")
    out = ensure_out(args.out)
    m = args.max_dt
    base = ProtocolConfig(dts=tuple(range(-m, m + 1)), t_post=m + 20, n_steps=2 * m + 40,
                          seed=args.seed)
    s = run_study(out, neurons=args.neuron, losses=args.losses, base=base,
                  rules=not args.no_rules, protocol=not args.only_run, run_dir=args.run,
                  n_batches=args.batches,
                  batch_size=args.batch_size, epochs=args.epochs, train_size=args.train_images,
                  dataset=args.dataset, data_root=args.data_root, mode=args.mode, seed=args.seed)
    print(f"{'window':40s} {'tau+ ms':>8s} {'tau- ms':>8s} {'r(ref)':>7s}  LTP  LTD")
    for group in ("windows", "ltd"):
        for k, f in s.get("protocol_fits", {}).get(group, {}).items():
            print(_row(k, f))
    for name, d in s.get("run", {}).get("layers", {}).items():
        print(_row(f"run {name} (mean per term)", d["fit_mean_update"]))
    for e in s.get("epochs", []):
        for name, d in e["layers"].items():
            print(_row(f"epoch {e['epoch']} {name} (mean per term)", d["fit_mean_update"]))
    print(f"report: {out}/bptt_stdp.json, figures {', '.join(s['figures'].values())}")
    return 0


def _row(k: str, f: dict) -> str:
    def t(side):
        x = side["tau_ms"]
        if x is None:
            return "       -"
        return "    flat" if side.get("flat") else f"{x:8.1f}"

    r = f.get("pearson_reference")
    ltd = "yes" if f["ltd_timing_dependent"] else ("offset" if f["ltd_branch"] else "no")
    rr = f"{r:7.2f}" if r is not None else "      -"
    ltp = "yes" if f["ltp_branch"] else "no "
    return f"{k:40s} {t(f['causal'])} {t(f['acausal'])} {rr}  {ltp}  {ltd}"
