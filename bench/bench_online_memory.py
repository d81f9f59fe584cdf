"""Peak memory and time of one training step vs sequence length T: BPTT, lean (chunked) BPTT,
e-prop and OTTT on the same network (feed-forward LIF 100-256-10, leaky readout, batch 16), and
OTTT on a recurrent ALIF layer of the same sizes (``ottt-recurrent-alif``).

Memory: the peak of live tensor bytes during the step, counted operator by operator
(:class:`hebbtorch.studies.online_memory.LiveTensorBytes`), in a fresh process per point. The
input sequence, loss weights, parameters and ``.grad`` buffers exist before the step and are not
counted; allocator caching/fragmentation and Python objects are not counted either. Time per
step: in the same process, a step run before the counted one, without the counting hook. One
thread; the readout is averaged on the fly (not kept).

    python bench/bench_online_memory.py [--device cpu|cuda] [--steps 100 500 1000 5000]
    python bench/bench_online_memory.py --plot-only   # redraw docs/img/online-memory.png
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)

from hebbtorch.io import write_json

METHODS = ("bptt", "bptt-lean", "eprop", "ottt", "ottt-recurrent-alif")


def _point(device: str, method: str, T: int) -> dict:
    """Time (without the counting hook), then peak memory, in one fresh process."""
    code = ("import json, torch; torch.set_num_threads(1); "
            "from hebbtorch.studies.online_memory import one_step; "
            f"r = one_step({method!r}, {T}, device={device!r}, measure=False); "
            f"r.update(one_step({method!r}, {T}, device={device!r})); print(json.dumps(r))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


LABELS = {"bptt": "BPTT", "bptt-lean": "lean BPTT (chunk 50)", "eprop": "e-prop",
          "ottt": "OTTT", "ottt-recurrent-alif": "OTTT, recurrent ALIF"}


def plot(result: dict, path: str) -> None:
    """Peak memory vs T, log-log, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method, label in LABELS.items():
        rows = sorted((r for r in result["rows"] if r["method"] == method), key=lambda r: r["T"])
        ax.plot([r["T"] for r in rows], [r["peak_bytes"] / 2**20 for r in rows], "o-",
                label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time steps T")
    ax.set_ylabel("peak live tensor memory (MiB)")
    ax.set_title("one training step, LIF 100-256-10, batch 16", fontsize=9)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 500, 1000, 5000])
    ap.add_argument("--out", default="bench/results/online-memory.json")
    ap.add_argument("--plot", default="docs/img/online-memory.png")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from --out")
    ap.add_argument("--one-process", action="store_true",
                    help="all points in this process (the count does not depend on the "
                         "allocator's history; saves the start-up of a process per point)")
    args = ap.parse_args()
    if args.plot_only:
        plot(json.loads(Path(args.out).read_text()), args.plot)
        return
    import torch

    rows = []
    for T in args.steps:
        for method in METHODS:
            if args.one_process:
                from hebbtorch.studies.online_memory import one_step

                torch.set_num_threads(1)
                row = one_step(method, T, device=args.device, measure=False)
                row.update(one_step(method, T, device=args.device))
            else:
                row = _point(args.device, method, T)
            row["process"] = "shared" if args.one_process else "fresh"
            rows.append(row)
            print(f"T={T:5d} {method:10s} peak {row['peak_bytes'] / 2**20:9.3f} MiB  "
                  f"{1e3 * row['seconds_per_step']:.3f} ms/step", flush=True)
    from hebbtorch.studies.online_memory import BATCH, CHUNK, SIZES, VARIANTS

    result = {
        "network": {"sizes": SIZES, "neuron": "lif", "readout_kappa": 0.9, "batch": BATCH,
                    "lean_chunk": CHUNK, "input_spike_probability": 0.05,
                    "variants": {k: v[1] for k, v in VARIANTS.items()}},
        "device": args.device, "threads": 1, "torch": torch.__version__,
        "python": platform.python_version(),
        "measure": "peak live tensor bytes of one step, counted per torch operator "
                   "(hebbtorch.studies.online_memory.LiveTensorBytes; new storages from an "
                   "operator's output until freed); input, loss weights, parameters and .grad "
                   "made before the step are excluded; one fresh process per point; time from "
                   "an uncounted step run first in that process",
        "command": "python bench/bench_online_memory.py --steps "
                   + " ".join(map(str, args.steps)) + (" --one-process" if args.one_process
                                                       else ""),
        "load": "shared 2-core machine, other jobs running (timings indicative; memory counts "
                "do not depend on load)",
        "rows": rows,
    }
    write_json(args.out, result)
    plot(result, args.plot)
    print(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
