"""``hebbtorch export-nir``: write a trained run's network as a NIR graph (HDF5 ``.nir``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hebbtorch.cli.common import positive_float


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-nir", help="export a trained spiking network to NIR",
        description="Export the network of a `hebbtorch train` run folder to the Neuromorphic "
        "Intermediate Representation (needs `pip install hebbtorch[nir]`). LIF -> nir.LIF with "
        "tau = dt / (1 - beta), r = tau / dt; LI readout -> nir.LI. See docs/nir.md.")
    p.add_argument("--run", type=Path, required=True, help="run folder with checkpoint.pt")
    p.add_argument("--out", type=Path, required=True, help="output file, e.g. net.nir")
    p.add_argument("--dt", type=positive_float, default=0.1,
                   help="ms per time step (default 0.1 ms, snnTorch's NIR convention; the graph "
                   "records it in seconds, NIR's unit)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import warnings

    from hebbtorch.interop.nir import export_nir
    from hebbtorch.learning.bptt import load_trained

    model, cfg = load_trained(args.run)
    shape = (1, 28, 28) if cfg.model.endswith("conv") else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = export_nir(model, args.out, shape, dt=args.dt)
    for w in caught:
        print(f"note: {w.message}")
    print(f"wrote {args.out}: {len(graph.nodes)} NIR nodes ({cfg.model}, dt = {args.dt:g} ms, "
          f"{model.num_steps} steps)")
    return 0
