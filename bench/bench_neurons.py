"""Benchmark: hebbtorch's LIF against snnTorch, Norse and SpikingJelly, in one process and run.

Workloads (Open Neuromorphic's SNN library benchmark, CPU sizes), input ``randn(T, B, N)``, fp32:

* ``neuron``: the LIF layer alone on ``[T, B, N]`` (input requires grad), loss ``out.sum()``;
* ``linear+lif``: ``Linear(N, N)`` then the LIF layer, loss ``out.sum()``;

each timed forward (with autograd recording, as in training) and forward + backward. Libraries
are used as their docs show: snnTorch ``Leaky`` stepped in a Python loop (its tutorials apply the
``Linear`` inside the loop too), Norse's multi-step ``LIF`` module (it also has a synaptic
current), SpikingJelly ``LIFNode`` and ``layer.Linear`` in multi-step mode ``'m'`` (its CPU path
is chosen by the library; 2.x has no ``backend`` argument) with ``functional.reset_net`` after
each pass. Libraries take turns within each repetition so machine load hits all alike; the
median over repetitions is reported. ``--memory`` instead measures the peak memory of plain vs
lean BPTT (``bench/results/neurons-memory.json``).

Run in the benchmark venv (anchors installed there, never in the project's)::

    /work/bench-venv/bin/python bench/bench_neurons.py              # bench/results/neurons.json
    .venv/bin/python bench/bench_neurons.py --memory                # peak-memory table
    python bench/bench_neurons.py --table-from bench/results/neurons.json  # tables only
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from hebbtorch.io import write_json, write_text
from hebbtorch.neurons.lif import LIF

RESULTS = Path(__file__).resolve().parent / "results"
BETA = 0.9  # hebbtorch / snnTorch decay per step; Norse and SpikingJelly use their defaults


def _hebbtorch(backend: str) -> Callable[[int], Callable[[torch.Tensor], torch.Tensor]]:
    def make(_n: int):
        lif = LIF(BETA, backend=backend)
        return lambda x: lif(x).spikes

    return make


def _snntorch(n: int):
    import snntorch as snn

    lif = snn.Leaky(beta=BETA)

    def run(x):
        mem = lif.init_leaky()
        spikes = []
        for step in range(x.shape[0]):
            spk, mem = lif(x[step], mem)
            spikes.append(spk)
        return torch.stack(spikes)

    return run


def _norse(n: int):
    from norse.torch import LIF as NorseLIF

    lif = NorseLIF()
    return lambda x: lif(x)[0]


def _spikingjelly(n: int):
    from spikingjelly.activation_based import functional, neuron

    lif = neuron.LIFNode(step_mode="m")

    def run(x):
        out = lif(x)
        functional.reset_net(lif)
        return out

    return run


NEURONS = {
    "hebbtorch (fused)": _hebbtorch("fused"),
    "hebbtorch (reference)": _hebbtorch("reference"),
    "snntorch": _snntorch,
    "norse": _norse,
    "spikingjelly": _spikingjelly,
}
PACKAGES = {"snntorch": "snntorch", "norse": "norse", "spikingjelly": "spikingjelly"}


def _with_linear(lib: str, n: int):
    """Linear(N, N) then the library's LIF, the way the library's docs wire it."""
    lin = nn.Linear(n, n)
    if lib == "snntorch":  # snnTorch tutorials: for step: cur = fc(x[step]); spk, mem = lif(...)
        import snntorch as snn

        lif = snn.Leaky(beta=BETA)

        def run(x):
            mem = lif.init_leaky()
            spikes = []
            for step in range(x.shape[0]):
                spk, mem = lif(lin(x[step]), mem)
                spikes.append(spk)
            return torch.stack(spikes)

        return run
    if lib == "spikingjelly":
        from spikingjelly.activation_based import functional, layer, neuron

        net = nn.Sequential(layer.Linear(n, n, step_mode="m"), neuron.LIFNode(step_mode="m"))

        def run_sj(x):
            out = net(x)
            functional.reset_net(net)
            return out

        return run_sj
    neuron_fn = NEURONS[lib](n)
    return lambda x: neuron_fn(lin(x))  # nn.Linear maps [T, B, N] in one matmul


def _time(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _forward(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> None:
    f(x)


def _fwd_bwd(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> None:
    f(x).sum().backward()
    x.grad = None


def bench(libs: list[str], sizes: list[int], T: int, B: int, repeats: int) -> list[dict]:
    rows = []
    for workload in ("neuron", "linear+lif"):
        for n in sizes:
            runs = {lib: NEURONS[lib](n) if workload == "neuron" else _with_linear(lib, n)
                    for lib in libs}
            x = torch.randn(T, B, n, generator=torch.Generator().manual_seed(0))
            if workload == "neuron":
                x.requires_grad_()

            times: dict[tuple[str, str], list[float]] = {}
            load = os.getloadavg()[0]
            for rep in range(repeats + 1):  # the first round warms up (builds, allocations)
                for lib, f in runs.items():
                    for mode, step in (("forward", _forward), ("forward+backward", _fwd_bwd)):
                        sec = _time(lambda f=f, step=step, x=x: step(f, x))
                        if rep:
                            times.setdefault((lib, mode), []).append(sec)
            for (lib, mode), ts in times.items():
                rows.append({
                    "workload": workload, "library": lib, "mode": mode, "T": T, "B": B, "N": n,
                    "median_ms": round(1000 * statistics.median(ts), 2),
                    "min_ms": round(1000 * min(ts), 2), "runs_ms": [round(1000 * t, 2) for t in ts],
                    "load_before": load, "load_after": os.getloadavg()[0],
                })
                print(f"{workload:10s} N={n:5d} {lib:22s} {mode:17s} "
                      f"{rows[-1]['median_ms']:9.1f} ms", flush=True)
    return rows


def copy_bandwidth(gb: float = 0.5, repeats: int = 5) -> float:
    """Practical memory bandwidth (GB/s, read + write) of a large tensor copy: the ceiling for
    a memory-bound kernel on this machine."""
    x = torch.ones(int(gb * 1e9 / 8))
    y = torch.empty_like(x)
    best = min(_time(lambda: y.copy_(x)) for _ in range(repeats))
    return 2 * x.numel() * 4 / best / 1e9


MEMORY_SCRIPT = """
import re, sys, torch
from hebbtorch.kernels.chunked import chunked_bptt
from hebbtorch.neurons.lif import LIF
def rss(key):
    return 1024 * int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read())[1])
mode, T, N, B, chunk = sys.argv[1], *map(int, sys.argv[2:])
lin, lif = torch.nn.Linear(N, N), LIF(0.9, backend="reference" if mode == "plain" else "fused")
x = torch.randn(T, B, N)
def block(xc, s):
    o = lif(lin(xc), s)
    return o.spikes, o.state
block(x[:2], None)[0].sum().backward()
base = rss("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
out = chunked_bptt(block, x, None, chunk)[0] if mode == "chunked" else block(x, None)[0]
loss = out.sum()
del out
loss.backward()
print(rss("VmHWM") - base)
"""


def memory(steps: list[int], n: int, b: int, chunk: int) -> list[dict]:
    """Peak resident memory of forward + backward above the warm baseline, per mode, each in a
    fresh process. MALLOC_MMAP_THRESHOLD_ makes every tensor its own mapping, returned to the OS
    when freed, so the peak resident set (VmHWM, reset via /proc/self/clear_refs) is the peak of
    live memory (torch's CPU allocator does not cache); tracemalloc would not see torch's
    allocations at all."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    rows = []
    for T in steps:
        peaks = {}
        for mode in ("plain", "fused", "chunked"):
            out = subprocess.run(
                [sys.executable, "-c", MEMORY_SCRIPT, mode, str(T), str(n), str(b), str(chunk)],
                env=env, capture_output=True, text=True, check=True)
            peaks[mode] = int(out.stdout.split()[-1])
        tensor = T * b * n * 4  # one fp32 [T, B, N] tensor
        for mode, peak in peaks.items():
            rows.append({"T": T, "B": b, "N": n, "mode": mode, "chunk": chunk,
                         "peak_MB": round(peak / 1e6, 1), "peak_in_TxBxN_tensors":
                         round(peak / tensor, 2), "vs_plain": round(peak / peaks["plain"], 3)})
            print(f"memory T={T:5d} {mode:8s} {peak / 1e6:8.1f} MB "
                  f"({peak / peaks['plain']:.0%} of plain)", flush=True)
    return rows


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__,
           "hebbtorch": importlib.metadata.version("hebbtorch")}
    for pkg in PACKAGES.values():
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def machine() -> dict:
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())[1]
    except (OSError, TypeError):
        cpu = platform.processor()
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform()}


ANCHORS = ("snntorch", "norse", "spikingjelly")


def markdown(rows: list[dict], mem_rows: list[dict]) -> str:
    """Median times per (workload, N, library), then hebbtorch's speed-up over the fastest
    anchor, then the memory table."""
    t: dict[tuple, dict[str, float]] = {}
    for r in rows:
        t.setdefault((r["workload"], r["N"], r["library"]), {})[r["mode"]] = r["median_ms"]
    lines = []
    if t:
        lines += ["| workload | N | library | forward (ms) | forward+backward (ms) |",
                  "| --- | ---: | --- | ---: | ---: |"]
        lines += [f"| {w} | {n} | {lib} | {m['forward']:.1f} | {m['forward+backward']:.1f} |"
                  for (w, n, lib), m in t.items()]
        lines += ["", "| workload | N | fastest anchor (fwd / fwd+bwd) | hebbtorch fused "
                  "speed-up (fwd / fwd+bwd) |", "| --- | ---: | --- | ---: |"]
    for w, n in dict.fromkeys((w, n) for w, n, _ in t):
        ours = t.get((w, n, "hebbtorch (fused)"))
        anchors = {lib: t[(w, n, lib)] for lib in ANCHORS if (w, n, lib) in t}
        if not ours or not anchors:
            continue
        cells = []
        for mode in ("forward", "forward+backward"):
            lib = min(anchors, key=lambda a, mode=mode: anchors[a][mode])
            cells.append((lib, anchors[lib][mode] / ours[mode]))
        lines.append(f"| {w} | {n} | {cells[0][0]} / {cells[1][0]} | "
                     f"{cells[0][1]:.1f}x / {cells[1][1]:.1f}x |")
    if t:
        lines.append("")
    if mem_rows:
        lines += ["| T | mode | peak (MB) | in [T,B,N] fp32 tensors | vs plain |",
                  "| ---: | --- | ---: | ---: | ---: |"]
        lines += [f"| {r['T']} | {r['mode']} | {r['peak_MB']} | {r['peak_in_TxBxN_tensors']} | "
                  f"{r['vs_plain']:.0%} |" for r in mem_rows] + [""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500, help="T")
    ap.add_argument("--batch", type=int, default=16, help="B")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048], help="N values")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--libs", nargs="+", default=list(NEURONS), choices=list(NEURONS))
    ap.add_argument("--memory", action="store_true", help="measure plain vs lean BPTT peaks only")
    ap.add_argument("--memory-steps", type=int, nargs="+", default=[250, 500, 1000, 2000])
    ap.add_argument("--out", type=Path, help="results JSON (default bench/results/neurons.json, "
                    "or neurons-memory.json with --memory)")
    ap.add_argument("--table-from", type=Path, help="only re-render the tables of a results JSON")
    args = ap.parse_args()
    if args.table_from:
        report = json.loads(args.table_from.read_text())
        print(markdown(report["results"], report["memory"]), end="")
        return

    out = args.out or RESULTS / ("neurons-memory.json" if args.memory else "neurons.json")
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(), "versions": versions(), "load_before": os.getloadavg()[0],
        "results": [], "memory": [],
    }
    if args.memory:
        report["memory"] = memory(args.memory_steps, 256, args.batch, 32)
    else:
        libs, report["skipped"] = [], {}
        for lib in args.libs:
            try:
                NEURONS[lib](8)(torch.zeros(2, 1, 8))
                libs.append(lib)
            except Exception as e:  # an anchor that is missing or broken is recorded, not fatal
                report["skipped"][lib] = f"{type(e).__name__}: {e}"
                print(f"skipping {lib}: {report['skipped'][lib]}", file=sys.stderr)
        rows = bench(libs, args.sizes, args.steps, args.batch, args.repeats)
        bandwidth = copy_bandwidth()
        for r in rows:  # forward reads the input, writes spikes and membrane: 12 B/neuron-step
            if (r["workload"], r["library"], r["mode"]) == ("neuron", "hebbtorch (fused)",
                                                             "forward"):
                r["GB_per_s"] = round(12 * r["T"] * r["B"] * r["N"] / r["median_ms"] / 1e6, 2)
                r["percent_of_copy_bandwidth"] = round(100 * r["GB_per_s"] / bandwidth, 1)
        report["copy_bandwidth_GB_per_s"] = round(bandwidth, 2)
        report["results"] = rows
    write_json(out, report)
    table = markdown(report["results"], report["memory"])
    write_text(out.with_suffix(".md"), table)
    print(table)


if __name__ == "__main__":
    main()
