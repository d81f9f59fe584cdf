"""Benchmark: 10,000 plastic synapses (100 pre x 100 post) x 1,000 independent repetitions,
all in one batched simulation (weights [1000, 100, 100] = 10^7 synapses).

Protocol: independent Poisson pre and post spike trains at ``--rate`` Hz for ``--steps`` steps
of 1 ms; each rule updates every synapse online (hard bounds [0, 1]). Writes
bench/results/plasticity.json.

    .venv/bin/python bench/bench_plasticity.py            # ~2 min on a 2-core CPU
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.io import write_json
from hebbtorch.plasticity import (
    CalciumHebbian,
    PairSTDP,
    PlasticConnection,
    TripletSTDP,
    WeightBounds,
)


def bench(rule_name: str, rule, batch: int, n_pre: int, n_post: int, steps: int, rate: float,
          seed: int, bounds: WeightBounds) -> dict:
    g = torch.Generator().manual_seed(seed)
    p = rate / 1000.0
    pre = (torch.rand(steps, batch, n_pre, generator=g) < p).float()
    post = (torch.rand(steps, batch, n_post, generator=g) < p).float()
    conn = PlasticConnection(n_pre, n_post, rule, batch=batch, dt=1.0, w_init=0.5, bounds=bounds)
    conn.run(pre[:5], post[:5])  # warm-up (allocations)
    t = time.perf_counter()
    conn.run(pre[5:], post[5:])
    sec = time.perf_counter() - t
    n_syn = batch * n_pre * n_post
    sim_steps = steps - 5
    w = conn.weight.detach()
    return {
        "rule": rule_name, "bounds": bounds._asdict(), "seconds": round(sec, 3),
        "steps": sim_steps, "ms_per_step": round(1000 * sec / sim_steps, 3),
        "synapse_updates_per_s": n_syn * sim_steps / sec,
        "weight_mean": float(w.mean()), "weight_std": float(w.std()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1000, help="protocol repetitions")
    ap.add_argument("--pre", type=int, default=100)
    ap.add_argument("--post", type=int, default=100)
    ap.add_argument("--steps", type=int, default=255, help="1-ms steps (5 are warm-up)")
    ap.add_argument("--rate", type=float, default=10.0, help="Poisson rate (Hz)")
    # 1 thread by default: on a shared, oversubscribed 2-core machine torch's OpenMP barriers
    # make 2 threads ~4x slower than 1 (measured); pass --threads 2 on an idle machine
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/plasticity.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rules = [
        ("pair_stdp_additive", PairSTDP(), WeightBounds(0.0, 1.0)),
        ("pair_stdp_multiplicative", PairSTDP(), WeightBounds(0.0, 1.0, "multiplicative")),
        ("triplet_stdp_additive", TripletSTDP(), WeightBounds(0.0, 1.0)),
        ("calcium_hebbian_additive", CalciumHebbian(), WeightBounds(0.0, 1.0)),
    ]
    results = []
    for name, rule, bounds in rules:
        r = bench(name, rule, args.batch, args.pre, args.post, args.steps, args.rate, 0, bounds)
        print(f"{name:28s} {r['seconds']:7.2f} s  {r['ms_per_step']:7.2f} ms/step  "
              f"{r['synapse_updates_per_s']:.3g} synapse-steps/s")
        results.append(r)
    write_json(args.out, {
        "benchmark": "plasticity engine, batched",
        "command": "python bench/bench_plasticity.py",
        "date": datetime.date.today().isoformat(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                    "load_average_at_start": os.getloadavg()},
        "synapses_per_network": args.pre * args.post, "repetitions": args.batch,
        "total_synapses": args.pre * args.post * args.batch,
        "rate_hz": args.rate, "dt_ms": 1.0, "results": results,
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
