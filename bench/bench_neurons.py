"""Benchmark: hebbtorch's LIF against snnTorch, Norse and SpikingJelly, in one process and run.

Workloads (Open Neuromorphic's SNN library benchmark, CPU sizes), input ``randn(T, B, N)``, fp32:

* ``neuron``: the LIF layer alone on ``[T, B, N]`` (input requires grad), loss ``out.sum()``;
  also hebbtorch's ALIF, fused vs reference (by default on CUDA only);
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

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch
from torch import nn

from hebbtorch.io import write_json, write_text
from hebbtorch.neurons.alif import ALIF
from hebbtorch.neurons.lif import LIF

RESULTS = Path(__file__).resolve().parent / "results"
BETA = 0.9  # hebbtorch / snnTorch decay per step; Norse and SpikingJelly use their defaults
RHO = 0.95  # ALIF's adaptation decay per step


DEVICE = torch.device("cpu")  # set by --device; the factories below build their modules there


def _hebbtorch(backend: str) -> Callable[[int], Callable[[torch.Tensor], torch.Tensor]]:
    def make(_n: int):
        lif = LIF(BETA, backend=backend).to(DEVICE)
        return lambda x: lif(x).spikes

    return make


def _hebbtorch_alif(backend: str) -> Callable[[int], Callable[[torch.Tensor], torch.Tensor]]:
    def make(_n: int):
        alif = ALIF(BETA, RHO, backend=backend).to(DEVICE)
        return lambda x: alif(x).spikes

    return make


def _snntorch(n: int):
    import snntorch as snn

    lif = snn.Leaky(beta=BETA).to(DEVICE)

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

    lif = NorseLIF().to(DEVICE)
    return lambda x: lif(x)[0]


def _spikingjelly(n: int):
    from spikingjelly.activation_based import functional, neuron

    lif = neuron.LIFNode(step_mode="m").to(DEVICE)

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
# neuron workload only (no anchor has ALIF); in the default set on CUDA, where it is new
ALIF_NEURONS = {"hebbtorch ALIF (fused)": _hebbtorch_alif("fused"),
                "hebbtorch ALIF (reference)": _hebbtorch_alif("reference")}
NEURONS.update(ALIF_NEURONS)
PACKAGES = {"snntorch": "snntorch", "norse": "norse", "spikingjelly": "spikingjelly"}
# hebbtorch's fused LIF with the synaptic matmul in TF32 or bf16 (CUDA; the neuron stays fp32)
PRECISIONS = {"hebbtorch (fused, tf32)": "tf32", "hebbtorch (fused, bf16)": "bf16"}


def _with_precision(precision: str, f: Callable[[torch.Tensor], torch.Tensor]):
    def run(x):
        if precision == "bf16":
            with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
                return f(x)
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            return f(x)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old

    return run


def _with_linear(lib: str, n: int):
    """Linear(N, N) then the library's LIF, the way the library's docs wire it."""
    if lib in PRECISIONS:
        return _with_precision(PRECISIONS[lib], _with_linear("hebbtorch (fused)", n))
    lin = nn.Linear(n, n).to(DEVICE)
    if lib == "snntorch":  # snnTorch tutorials: for step: cur = fc(x[step]); spk, mem = lif(...)
        import snntorch as snn

        lif = snn.Leaky(beta=BETA).to(DEVICE)

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

        net = nn.Sequential(layer.Linear(n, n, step_mode="m"),
                            neuron.LIFNode(step_mode="m")).to(DEVICE)

        def run_sj(x):
            out = net(x)
            functional.reset_net(net)
            return out

        return run_sj
    neuron_fn = NEURONS[lib](n)
    return lambda x: neuron_fn(lin(x))  # nn.Linear maps [T, B, N] in one matmul


def _time(fn: Callable[[], None]) -> float:
    """Seconds of one call; on CUDA between events recorded after a synchronisation."""
    return _time_host(fn)[0]


def _time_host(fn: Callable[[], None]) -> tuple[float, float]:
    """(seconds of one call, seconds the host spent in it). On CUDA the first is between events
    recorded after a synchronisation, the second until the call returned: a call that waits for
    the GPU inside has both equal, one that only queues work returns early."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        t = time.perf_counter()
        fn()
        host = time.perf_counter() - t
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000, host
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t,) * 2


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
                    for lib in libs
                    if (lib in NEURONS if workload == "neuron" else lib not in ALIF_NEURONS)}
            x = torch.randn(T, B, n, generator=torch.Generator().manual_seed(0)).to(DEVICE)
            if workload == "neuron":
                x.requires_grad_()

            times: dict[tuple[str, str], list[tuple[float, float]]] = {}
            load = os.getloadavg()[0]
            for rep in range(repeats + 1):  # the first round warms up (builds, allocations)
                for lib, f in runs.items():
                    for mode, step in (("forward", _forward), ("forward+backward", _fwd_bwd)):
                        sec = _time_host(lambda f=f, step=step, x=x: step(f, x))
                        if rep:
                            times.setdefault((lib, mode), []).append(sec)
            for (lib, mode), th in times.items():
                ts = [t for t, _ in th]
                rows.append({
                    "workload": workload, "library": lib, "mode": mode, "T": T, "B": B, "N": n,
                    "median_ms": round(1000 * statistics.median(ts), 2),
                    "min_ms": round(1000 * min(ts), 2), "runs_ms": [round(1000 * t, 2) for t in ts],
                    "host_median_ms": round(1000 * statistics.median(h for _, h in th), 2),
                    "load_before": load, "load_after": os.getloadavg()[0],
                })
                print(f"{workload:10s} N={n:5d} {lib:22s} {mode:17s} "
                      f"{rows[-1]['median_ms']:9.1f} ms", flush=True)
    return rows


def copy_bandwidth(gb: float = 0.5, repeats: int = 5) -> float:
    """Practical memory bandwidth (GB/s, read + write) of a large tensor copy: the ceiling for
    a memory-bound kernel on this machine."""
    if DEVICE.type == "cuda":
        gb = 4.0  # far beyond the L2
    x = torch.randn(int(gb * 1e9 / 8), device=DEVICE)
    y = torch.empty_like(x)
    y.copy_(x)
    best = min(_time(lambda: y.copy_(x)) for _ in range(repeats))
    return 2 * x.numel() * 4 / best / 1e9


def kernel_sweep(sizes: list[int], T: int, B: int, configs: list[tuple[int, int, int, bool]],
                 repeats: int) -> list[dict]:
    """The Triton LIF kernels alone, per launch shape (block, unroll, warps, forward prefetch):
    achieved bandwidth
    over the fewest bytes they must move. Forward reads the input and writes spikes and membrane
    (12 B per neuron-step); backward reads the membrane and the spikes' grad and writes the
    input's grad (12 B; a full [T, B, N] grad, not the broadcast one of ``out.sum()``)."""
    from hebbtorch.kernels import lif_triton

    rows = []
    for n in sizes:
        for cfg in configs:
            b, u, w, prefetch = cfg
            lif_triton.set_config(lif_triton.Config(b, u, w, backward_unroll=u,
                                                    prefetch=prefetch))
            for mode, sec in _kernel_times(T, B * n, repeats).items():
                rows.append({"N": n, "T": T, "B": B, "config": list(cfg), "mode": mode,
                             "median_ms": round(1000 * sec, 4),
                             "GB_per_s": round(12 * T * B * n / sec / 1e9, 1)})
                print(f"kernel N={n:6d} block={b:4d} unroll={u:3d} warps={w} prefetch={prefetch:d} "
                      f"{mode:9s} {1000 * sec:8.3f} ms {rows[-1]['GB_per_s']:8.1f} GB/s",
                      flush=True)
    lif_triton.set_config(lif_triton.Config())
    return rows


def _kernel_times(T: int, M: int, repeats: int, launches: int = 20) -> dict[str, float]:
    """Median seconds of one forward and one backward launch on fresh random [T, M] data, each
    timed over ``launches`` back-to-back launches: the host queues the next launch while the GPU
    runs the last (the forward no longer waits for its NaN count), so launch overhead is hidden
    as in a training loop and the time is the kernels' own."""
    from hebbtorch.kernels import lif_triton

    g = torch.Generator(device=DEVICE).manual_seed(0)
    x = torch.randn(T, M, device=DEVICE, generator=g) * 0.5 + 0.3
    z = torch.zeros(M, device=DEVICE)
    beta, thr, none = z + BETA, z + 1.0, torch.empty(0, dtype=torch.uint8, device=DEVICE)
    spikes, h, d = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    gs = torch.randn(T, M, device=DEVICE, generator=g)

    def fwd():
        lif_triton.forward(x, beta, thr, z.clone(), z, 0, 0, spikes, h, none)

    def bwd():
        lif_triton.backward(h, none, gs, M, z, 0, z, z, beta, thr, 0, 0, 1.0, False, d,
                            z.clone(), z[:0], z[:0])

    fwd()  # compiles, and fills h for the backward
    bwd()
    def many(fn: Callable[[], None]) -> Callable[[], None]:
        return lambda: [fn() for _ in range(launches)]

    return {"forward": statistics.median(_time(many(fwd)) for _ in range(repeats)) / launches,
            "backward": statistics.median(_time(many(bwd)) for _ in range(repeats)) / launches}


def cuda_memory(steps: list[int], n: int, b: int, chunk: int) -> list[dict]:
    """Peak CUDA memory (allocator statistics, exact) of forward + backward of Linear + LIF
    above the inputs and weights, plain reference BPTT vs the fused kernel vs chunked."""
    from hebbtorch.kernels.chunked import chunked_bptt

    rows = []
    for T in steps:
        peaks = {}
        for mode in ("plain", "fused", "chunked"):
            lin = nn.Linear(n, n).to(DEVICE)
            lif = LIF(BETA, backend="reference" if mode == "plain" else "fused").to(DEVICE)
            x = torch.randn(T, b, n, device=DEVICE)

            def block(xc, s, lin=lin, lif=lif):
                o = lif(lin(xc), s)
                return o.spikes, o.state

            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            out = chunked_bptt(block, x, None, chunk)[0] if mode == "chunked" else block(x, None)[0]
            loss = out.sum()
            del out
            loss.backward()
            torch.cuda.synchronize()
            peaks[mode] = torch.cuda.max_memory_allocated() - base
            del lin, x, loss
        rows += _memory_rows(T, b, n, chunk, peaks)
    return rows


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
        rows += _memory_rows(T, b, n, chunk, peaks)
    return rows


def _memory_rows(T: int, b: int, n: int, chunk: int, peaks: dict[str, int]) -> list[dict]:
    """One row per mode, the peak also in fp32 [T, B, N] tensors and relative to plain BPTT."""
    tensor = T * b * n * 4
    rows = []
    for mode, peak in peaks.items():
        rows.append({"T": T, "B": b, "N": n, "mode": mode, "chunk": chunk,
                     "peak_MB": round(peak / 1e6, 1), "peak_in_TxBxN_tensors":
                     round(peak / tensor, 2), "vs_plain": round(peak / peaks["plain"], 3)})
        print(f"memory ({DEVICE.type}) T={T:5d} {mode:8s} {peak / 1e6:8.1f} MB "
              f"({peak / peaks['plain']:.0%} of plain)", flush=True)
    return rows


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for pkg in ("hebbtorch", *PACKAGES.values()):  # hebbtorch: not installed on a lent GPU
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
    out = {"cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "platform": platform.platform(), "device": str(DEVICE)}
    if DEVICE.type == "cuda":
        prop = torch.cuda.get_device_properties(DEVICE)
        out.update(gpu=prop.name, sms=prop.multi_processor_count, cuda=torch.version.cuda,
                   gpu_memory_GB=round(prop.total_memory / 1e9, 1))
        try:
            import triton

            out["triton"] = triton.__version__
        except ImportError:
            pass
    return out


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
        anchors = {lib: t[(w, n, lib)] for lib in ANCHORS if (w, n, lib) in t}
        for ours_name in ("hebbtorch (fused)", *PRECISIONS):
            ours = t.get((w, n, ours_name))
            if not ours or not anchors:
                continue
            cells = []
            for mode in ("forward", "forward+backward"):
                lib = min(anchors, key=lambda a, mode=mode: anchors[a][mode])
                cells.append((lib, anchors[lib][mode] / ours[mode]))
            label = w if ours_name == "hebbtorch (fused)" else f"{w}, {PRECISIONS[ours_name]}"
            lines.append(f"| {label} | {n} | {cells[0][0]} / {cells[1][0]} | "
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
    ap.add_argument("--libs", nargs="+", default=None, choices=[*NEURONS, *PRECISIONS],
                    help="default: all; on CUDA also hebbtorch's TF32 and bf16 matmuls")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--kernel-sweep", action="store_true",
                    help="CUDA: time the Triton LIF kernels alone per launch shape (GB/s)")
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

    global DEVICE
    DEVICE = torch.device(args.device)
    suffix = "-cuda" if DEVICE.type == "cuda" else ""
    kind = ("neurons-memory" if args.memory
            else "neurons-kernels" if args.kernel_sweep else "neurons")
    out = args.out or RESULTS / f"{kind}{suffix}.json"
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(), "versions": versions(), "load_before": os.getloadavg()[0],
        "results": [], "memory": [],
    }
    if args.memory:
        report["memory"] = (cuda_memory(args.memory_steps, 1024, args.batch, 32)
                            if DEVICE.type == "cuda" else memory(args.memory_steps, 256,
                                                                 args.batch, 32))
    elif args.kernel_sweep:
        report["copy_bandwidth_GB_per_s"] = round(copy_bandwidth(), 1)
        # unroll 32 and streaming stores were slower or no faster on the H200, 512-neuron
        # blocks no faster than 128 or 256 on the H100 (docs/benchmarks.md)
        configs = [(b, u, w, p) for b, w in ((128, 1), (256, 2)) for u in (4, 8, 16)
                   for p in (False, True)]
        report["kernels"] = kernel_sweep(args.sizes, args.steps, args.batch, configs,
                                         args.repeats)
        for r in report["kernels"]:
            r["percent_of_copy_bandwidth"] = round(
                100 * r["GB_per_s"] / report["copy_bandwidth_GB_per_s"], 1)
    else:
        libs, report["skipped"] = [], {}
        default = ([*NEURONS, *PRECISIONS] if DEVICE.type == "cuda"
                   else [lib for lib in NEURONS if lib not in ALIF_NEURONS])
        for lib in args.libs or default:
            try:
                if lib in PRECISIONS:
                    _with_linear(lib, 8)(torch.zeros(2, 1, 8, device=DEVICE))
                else:
                    NEURONS[lib](8)(torch.zeros(2, 1, 8, device=DEVICE))
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
