"""Peak memory and time of one training step vs sequence length T: BPTT, lean (chunked) BPTT,
e-prop and OTTT on the same network (feed-forward LIF 100-256-10, leaky readout, batch 16).

Each point runs in a fresh subprocess. CPU: the peak resident memory of the step above the
resident memory just before it (the kernel's high-water mark is reset first through
/proc/self/clear_refs), so the input tensor, weights and the interpreter are excluded; glibc's
mmap threshold is pinned to 16 KiB (MALLOC_MMAP_THRESHOLD_) so that freed blocks go back to the
system and the resident set follows the live tensors, and the time per step comes from a second
subprocess with the default allocator. CUDA: ``torch.cuda.max_memory_allocated`` above the
memory allocated before the step. One thread; the readout is averaged on the fly (not kept).

    python bench/bench_online_memory.py [--device cpu|cuda] [--steps 100 500 1000 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

METHODS = ("bptt", "bptt-lean", "eprop", "ottt")
SIZES, BATCH, CHUNK = (100, 256, 10), 16, 50


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def one_point(method: str, T: int, device: str) -> dict:
    import torch

    from hebbtorch.learning.online import grads
    from hebbtorch.learning.online_net import OnlineSNN

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = OnlineSNN(SIZES, kappa=0.9).to(device)
    x = (torch.rand(T, BATCH, SIZES[0], device=device) < 0.05).float()
    labels = torch.randint(0, SIZES[-1], (BATCH,), device=device)
    grads(net, x[:5], labels, method, chunk=CHUNK)  # warm-up: allocator, lazy inits
    net.zero_grad(set_to_none=False)
    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM)
        before = _rss_kib("VmRSS") * 1024
    t0 = time.perf_counter()
    grads(net, x, labels, method, chunk=CHUNK, keep_readout=False)
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _rss_kib("VmHWM") * 1024
    seconds = time.perf_counter() - t0
    return {"method": method, "T": T, "peak_bytes": max(peak - before, 0),
            "seconds_per_step": seconds / T}


def _run_point(device: str, method: str, T: int, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--device", device, "--point", method, str(T)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, **env}).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 500, 1000, 5000])
    ap.add_argument("--out", default="bench/results/online-memory.json")
    ap.add_argument("--point", nargs=2, metavar=("METHOD", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.point:
        print(json.dumps(one_point(args.point[0], int(args.point[1]), args.device)))
        return
    rows = []
    for T in args.steps:
        for method in METHODS:
            row = _run_point(args.device, method, T, {"MALLOC_MMAP_THRESHOLD_": "16384"})
            if args.device == "cpu":
                row["seconds_per_step"] = _run_point("cpu", method, T, {})["seconds_per_step"]
            rows.append(row)
            print(f"T={T:5d} {method:10s} peak {row['peak_bytes'] / 2**20:9.2f} MiB  "
                  f"{1e3 * row['seconds_per_step']:.3f} ms/step", flush=True)
    import torch

    result = {
        "network": {"sizes": SIZES, "neuron": "lif", "readout_kappa": 0.9, "batch": BATCH,
                    "lean_chunk": CHUNK, "input_spike_probability": 0.05},
        "device": args.device, "threads": 1, "torch": torch.__version__,
        "python": platform.python_version(),
        "measure": "peak above the memory before the step (input, weights excluded); "
                   "CPU: resident set high-water mark with MALLOC_MMAP_THRESHOLD_=16384 "
                   "(time from a run with the default allocator); CUDA: max_memory_allocated",
        "load": "shared 2-core machine, other jobs running (timings indicative)",
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
