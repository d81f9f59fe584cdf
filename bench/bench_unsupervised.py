"""Speed of the Diehl & Cook network (hebbtorch.networks.diehl_cook) learning mnist-5k images:
exact online mode (batch 1) and batched mode, wall-clock and CPU seconds per image.

Each image: 350 ms of input + 150 ms rest at dt = 0.5 ms (700 + 300 steps; the silent tail of
the rest is jumped over exactly, see docs/unsupervised.md), learning on, including the
per-image weight normalisation and the < 5 spikes retries. Writes
bench/results/unsupervised.json.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_unsupervised.py
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.data import load_dataset
from hebbtorch.io import write_json
from hebbtorch.learning.unsupervised import make_rule
from hebbtorch.networks.diehl_cook import (
    N_INPUT,
    DiehlCookNetwork,
    DiehlCookParameters,
    initial_state,
    network_step,
    population_constants,
    thresholds,
)
from hebbtorch.plasticity import registry

ROOT = Path(__file__).resolve().parents[1]


def measure(rule: str, neurons: int, batch: int, images: int, x: torch.Tensor,
            backend: str = "auto") -> dict:
    """backend "auto": the fused kernel where it applies (the online mode, every rule of the
    experiment), else the PyTorch step loop; "reference": always the loop."""
    setup = make_rule(rule)
    net = DiehlCookNetwork(neurons, setup.rule, bounds=setup.bounds, batch=batch,
                           w_init=setup.init(neurons, torch.Generator().manual_seed(0)),
                           backend=backend)
    from hebbtorch.kernels import diehl_cook as fused

    kernel = "fused" if fused.use_fused(net) else "loop"
    net.present(x[:batch], learn=True, seed=0)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for j in range(batch, batch + images, batch):
        net.present(x[j:j + batch], learn=True, seed=j)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"rule": rule, "neurons": neurons, "batch": batch, "images": images,
            "simulator": kernel, "images_per_s_wall": images / wall,
            "images_per_s_cpu": images / cpu}


def per_call_us(f, args: tuple, n: int = 2000) -> float:
    with torch.inference_mode():
        for _ in range(20):
            f(*args)
        t0 = time.perf_counter()
        for _ in range(n):
            f(*args)
    return (time.perf_counter() - t0) / n * 1e6


def compile_overhead(neurons: int) -> dict:
    """Eager vs ``torch.compile`` per call: a two-operation function and one network step
    (constants closed over, so the compiled graph sees only tensors)."""
    p = DiehlCookParameters()
    c = population_constants(neurons, p)
    st = initial_state(1, neurons, p)
    thresh = thresholds(torch.full((neurons,), p.theta_init), p)
    drive = torch.rand(1, neurons) * 0.1

    def tiny(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a + b, a * b

    def step(v, ge, gi, ref, drive, thresh):  # noqa: ANN001, ANN202
        new, s, _ = network_step(type(st)(v, ge, gi, ref), drive, thresh, p, c, True)
        return (*new, s)

    row = {}
    for name, f, args in (("two_ops", tiny, (drive, drive)),
                          ("network_step", step, (*st, drive, thresh))):
        row[f"{name}_eager_us"] = per_call_us(f, args)
        g = torch.compile(f, dynamic=False)
        with torch.inference_mode():
            g(*args)
        row[f"{name}_compiled_us"] = per_call_us(g, args)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--neurons", type=int, nargs="+", default=[100, 400],
                    help="network sizes; the step-loop and batched rows use the first")
    ap.add_argument("--images", type=int, default=20, help="images per online measurement")
    ap.add_argument("--batches", type=int, nargs="*", default=[16, 64])
    ap.add_argument("--rules", nargs="+", default=["dc", "triplet", "calcium", "gb"],
                    choices=registry.names())
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--threads", type=int, nargs="+", default=[1],
                    help="thread counts of the online rows (the fused kernel splits "
                         "Graupner-Brunel's row updates over them); the rest use one")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/unsupervised.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x = load_dataset("mnist-5k", split="train").images.reshape(-1, N_INPUT)
    n0, rows = args.neurons[0], []

    def add(row: dict) -> None:
        rows.append(row)
        print(row, flush=True)

    for rule in args.rules:
        for n in args.neurons:
            for k in args.threads:
                torch.set_num_threads(k)
                add({**measure(rule, n, 1, args.images, x), "threads": k})
        torch.set_num_threads(1)
        add(measure(rule, n0, 1, args.images, x, backend="reference"))  # the kernel's reference
    for b in args.batches:
        add(measure("dc", n0, b, 2 * b, x))
    compiled = compile_overhead(n0) if args.compile else None
    print(compiled, flush=True)
    write_json(args.out, {"compile": compiled, "torch": torch.__version__, "threads": args.threads,
                          "machine": platform.processor() or platform.machine(),
                          "cpus": os.cpu_count(), "load_average": os.getloadavg(),
                          "rows": rows})


if __name__ == "__main__":
    main()
