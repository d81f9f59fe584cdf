"""``hebbtorch protocol NAME``: run a plasticity protocol and write JSON + PNG.

Examples::

    hebbtorch protocol window --rule pair,calcium
    hebbtorch protocol frequency --rule pair,triplet --out docs/img
    hebbtorch protocol frequency --rule gb --params cortical_slices
    hebbtorch protocol triplets --rule triplet,gb \
        --params hippocampal/nearest/full,hippocampal_cultures   # one set per rule
    hebbtorch protocol docs --out docs/img      # every figure of docs/plasticity-protocols.md

Under ``torchrun --nproc_per_node=N`` the repetitions of the stochastic protocols (rate, speed)
are split across the processes (gloo) with the same result as one process; rank 0 writes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hebbtorch.cli.common import add_run, ensure_out, positive_int
from hebbtorch.errors import HebbtorchError

HIPPO_SETS = ",".join(f"hippocampal/{i}/{m}" for i in ("all_to_all", "nearest")
                      for m in ("full", "minimal"))
VISUAL_SETS = HIPPO_SETS.replace("hippocampal", "visual_cortex")

# (protocol, rules, params, file stem) for the documentation figures.
DOC_FIGURES: list[tuple[str, str, str | None, str]] = [
    ("window", "pair,calcium", None, "window_pair_calcium"),
    ("window", "gb", "DP", "window_gb_DP"),
    ("window", "triplet,gb", "hippocampal/all_to_all/full,hippocampal_cultures",
     "window_hippocampal"),
    ("frequency", "pair,triplet", None, "frequency_pair_triplet"),
    ("frequency", "triplet,triplet,triplet,triplet", VISUAL_SETS, "frequency_triplet_visual_sets"),
    ("frequency", "gb", "cortical_slices", "frequency_gb_cortical"),
    ("frequency", "calcium", None, "frequency_calcium"),
    ("triplets", "pair,triplet,gb", ",hippocampal/all_to_all/full,hippocampal_cultures",
     "triplets_pair_triplet"),
    ("triplets", "triplet,triplet,triplet,triplet", HIPPO_SETS, "triplets_hippocampal_sets"),
    ("rate", "triplet,calcium", None, "rate_triplet_calcium"),
    ("rate", "gb", "cortical_slices", "rate_gb_cortical"),
    ("speed", "calcium", None, "speed_calcium"),
]


def register(sub: argparse._SubParsersAction) -> None:
    from hebbtorch.plasticity import registry
    from hebbtorch.studies.protocols import PROTOCOLS

    p = sub.add_parser("protocol", help="run a plasticity protocol (STDP window, frequency, ...)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=[*PROTOCOLS, "docs"],
                   help="protocol, or 'docs' for every figure of docs/plasticity-protocols.md")
    p.add_argument("--rule", default=None,
                   help="comma-separated rules, any of hebbtorch.plasticity.registry: "
                   f"{', '.join(registry.names())} (default per protocol)")
    p.add_argument("--params", default=None,
                   help="published parameter set, e.g. cortical_slices (gb) or "
                        "hippocampal/all_to_all/full (triplet); comma-separated: one per rule "
                        "(empty = that rule's default)")
    p.add_argument("--reps", type=positive_int, default=None,
                   help="repetitions of stochastic protocols (rate, speed; simulated in chunks)")
    p.add_argument("--stem", type=stem_name, default=None,
                   help="output file name without extension (default: from the protocol, "
                        "rules and params)")
    add_run(p, "protocol", resume=False, device=False, quiet=False)  # --seed: Poisson trains
    p.set_defaults(func=run)


DEFAULT_RULE = {"window": "pair", "frequency": "pair,triplet", "triplets": "pair,triplet",
                "rate": "triplet,calcium", "speed": "calcium"}


def run_one(name: str, rules: str, params: str | None, seed: int, reps: int | None,
            out: Path, stem: str | None = None) -> list[dict[str, Any]]:
    from hebbtorch.distributed import is_main_process
    from hebbtorch.io import save_figure, write_json
    from hebbtorch.plasticity import registry
    from hebbtorch.studies.protocols import PROTOCOLS
    from hebbtorch.viz.plasticity import plot_protocol

    fn = PROTOCOLS[name]
    results = []
    names = [r.strip() for r in rules.split(",") if r.strip()]
    per_rule: list[str | None] = [params] * len(names)
    if params is not None and "," in params:
        per_rule = [q.strip() or None for q in params.split(",")]
        if len(per_rule) != len(names):
            raise HebbtorchError(
                f"--params has {len(per_rule)} comma-separated sets for {len(names)} rules")
    for rule, rule_params in zip(names, per_rule, strict=True):
        registry.get(rule)  # one clear line for an unknown name
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
        if rule_params is not None or not (name == "triplets" and rule == "triplet"):
            kw["params"] = rule_params
        t = time.perf_counter()
        res = fn(rule, **kw)
        res["seconds"] = round(time.perf_counter() - t, 3)
        results.append(res)
    if not is_main_process():  # every rank has the gathered results; rank 0 writes them
        return results
    suffix = f"_{params.replace('/', '-').replace(',', '_')}" if params else ""
    stem = stem or f"{name}_{rules.replace(',', '_')}{suffix}"
    write_json(out / f"{stem}.json", results if len(results) > 1 else results[0])
    save_figure(plot_protocol(name, results), out / f"{stem}.png")
    print(f"wrote {out / stem}.json and .png")
    for r in results:
        if "rmse_vs_data" in r:
            nmse = f", E = {r['nmse_vs_data']:.2f}" if "nmse_vs_data" in r else ""
            print(f"  {r['rule']} ({r.get('params')}): RMSE vs {r['data']['citation'][:24]}... "
                  f"= {r['rmse_vs_data']:.4f} over {r['n_points']} points{nmse}")
    return results


def stem_name(text: str) -> str:
    """A file name inside --out: no folders, no '..'."""
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a file name without folders, got {text!r}")
    return text


def run(args: argparse.Namespace) -> int:
    import torch

    from hebbtorch import distributed as ddp
    from hebbtorch.learning.run import check_memory

    if args.reps:  # results: rates x repetitions x 2 variants x 2 float64 (+ a chunk's trains)
        check_memory(args.reps * 9 * 2 * 2 * 8 + 2**28, f"--reps {args.reps}",
                     "lower --reps")
    out = ensure_out(args.out)
    info = ddp.setup(torch.device("cpu"))  # joins torchrun's group (gloo); no-op otherwise
    try:
        if args.name == "docs":
            for name, rules, params, stem in DOC_FIGURES:
                run_one(name, rules, params, args.seed, args.reps, out, stem)
        else:
            run_one(args.name, args.rule or DEFAULT_RULE[args.name], args.params, args.seed,
                    args.reps, out, args.stem)
    finally:
        ddp.teardown(info)
    return 0
