"""``hebbtorch protocol NAME``: run a plasticity protocol and write JSON + PNG.

Examples::

    hebbtorch protocol window --rule pair,calcium
    hebbtorch protocol frequency --rule pair,triplet --out docs/img
    hebbtorch protocol frequency --rule gb --params cortical_slices
    hebbtorch protocol docs --out docs/img      # every figure of docs/plasticity.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hebbtorch.cli.common import ensure_out, positive_int
from hebbtorch.errors import HebbtorchError

# (protocol, rules, params, file stem) for the documentation figures.
DOC_FIGURES: list[tuple[str, str, str | None, str]] = [
    ("window", "pair,calcium", None, "window_pair_calcium"),
    ("window", "gb", "DP", "window_gb_DP"),
    ("frequency", "pair,triplet", None, "frequency_pair_triplet"),
    ("frequency", "gb", "cortical_slices", "frequency_gb_cortical"),
    ("frequency", "calcium", None, "frequency_calcium"),
    ("triplets", "pair,triplet", None, "triplets_pair_triplet"),
    ("rate", "triplet,calcium", None, "rate_triplet_calcium"),
    ("rate", "gb", "cortical_slices", "rate_gb_cortical"),
    ("speed", "calcium", None, "speed_calcium"),
]


def register(sub: argparse._SubParsersAction) -> None:
    from hebbtorch.experiments.protocols import PROTOCOLS

    p = sub.add_parser("protocol", help="run a plasticity protocol (STDP window, frequency, ...)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=[*PROTOCOLS, "docs"],
                   help="protocol, or 'docs' for every figure of docs/plasticity.md")
    p.add_argument("--rule", default=None,
                   help="comma-separated rules: pair, triplet, gb, calcium (default per protocol)")
    p.add_argument("--params", default=None,
                   help="published parameter set, e.g. cortical_slices (gb) or "
                        "hippocampal/all_to_all/full (triplet)")
    p.add_argument("--seed", type=int, default=0, help="seed of Poisson protocols (default 0)")
    p.add_argument("--reps", type=positive_int, default=None,
                   help="repetitions of stochastic protocols (rate, speed)")
    p.add_argument("--out", type=Path, default=Path("results/protocols"), help="output folder")
    p.set_defaults(func=run)


DEFAULT_RULE = {"window": "pair", "frequency": "pair,triplet", "triplets": "pair,triplet",
                "rate": "triplet,calcium", "speed": "calcium"}


def run_one(name: str, rules: str, params: str | None, seed: int, reps: int | None,
            out: Path, stem: str | None = None) -> list[dict[str, Any]]:
    from hebbtorch.experiments.plasticity_plots import plot_protocol
    from hebbtorch.experiments.protocols import PROTOCOLS, RULES
    from hebbtorch.io import save_figure, write_json

    fn = PROTOCOLS[name]
    results = []
    for rule in [r.strip() for r in rules.split(",") if r.strip()]:
        if rule not in RULES:
            raise HebbtorchError(f"unknown rule {rule!r}; choose from {', '.join(RULES)}")
        kw: dict[str, Any] = {}
        if name in ("rate", "speed"):
            kw["seed"] = seed
            if reps:
                kw["reps"] = reps
        if name == "speed":
            if rule != "calcium":
                raise HebbtorchError("the speed protocol runs the calcium rule only")
            results.append(fn(**kw))
            continue
        # the hippocampal set is the triplet default for the Wang 2005 protocols
        if params is not None or not (name == "triplets" and rule == "triplet"):
            kw["params"] = params
        t = time.perf_counter()
        res = fn(rule, **kw)
        res["seconds"] = round(time.perf_counter() - t, 3)
        results.append(res)
    suffix = f"_{params.replace('/', '-')}" if params else ""
    stem = stem or f"{name}_{rules.replace(',', '_')}{suffix}"
    write_json(out / f"{stem}.json", results if len(results) > 1 else results[0])
    save_figure(plot_protocol(name, results), out / f"{stem}.png")
    print(f"wrote {out / stem}.json and .png")
    for r in results:
        if "rmse_vs_data" in r:
            print(f"  {r['rule']} ({r.get('params')}): "
                  f"RMSE vs Sjöström 2001 = {r['rmse_vs_data']:.4f}")
    return results


def run(args: argparse.Namespace) -> int:
    out = ensure_out(args.out)
    if args.name == "docs":
        for name, rules, params, stem in DOC_FIGURES:
            run_one(name, rules, params, args.seed, args.reps, out, stem)
        return 0
    run_one(args.name, args.rule or DEFAULT_RULE[args.name], args.params, args.seed, args.reps,
            out)
    return 0
