"""How well float32 resolves Graupner & Brunel's bistable drift tau dρ/dt = -ρ(1-ρ)(ρ*-ρ):
silent synapses (no calcium) start at several ρ and drift for 40,960 steps of 0.5 ms (20.5 s;
a multiple of every drift_every below, so no drift is pending at the end) with
``GraupnerBrunel(drift_every=k)``; each change of ρ is compared with the float64 per-step
solution. Writes bench/results/gb-drift-precision.json; docs/unsupervised.md, "Graupner-Brunel's
drift in float32".

    OMP_NUM_THREADS=1 .venv/bin/python scripts/gb_drift_precision.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from hebbtorch.io import write_json
from hebbtorch.plasticity import GB_PARAMETER_SETS, GraupnerBrunel, PlasticConnection, WeightBounds

ROOT = Path(__file__).resolve().parents[1]
RHO0 = (0.02, 0.1, 0.3, 0.45, 0.52, 0.6, 0.8, 0.9, 0.95, 0.98)


def drift(rho0: torch.Tensor, every: int, dtype: torch.dtype, steps: int, gb_set: str
          ) -> torch.Tensor:
    """ρ after ``steps`` silent steps (float64 copy)."""
    p = GB_PARAMETER_SETS[gb_set]
    c = PlasticConnection(len(rho0), 1, GraupnerBrunel(p, times=False, drift_every=every),
                          dt=0.5, w_init=(1.0 + rho0 * (p.b - 1.0)).unsqueeze(1).to(dtype),
                          bounds=WeightBounds(1.0, p.b), dtype=dtype)
    c.run(torch.zeros(steps, 1, len(rho0), dtype=dtype), torch.zeros(steps, 1, 1, dtype=dtype))
    return c.state.rule.rho[0, :, 0].double()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="cortical_slices", choices=sorted(GB_PARAMETER_SETS))
    ap.add_argument("--every", type=int, nargs="+", default=[1, 32, 128, 256])
    ap.add_argument("--steps", type=int, default=40_960)
    ap.add_argument("--out", default=str(ROOT / "bench/results/gb-drift-precision.json"))
    args = ap.parse_args()
    rho0 = torch.tensor(RHO0, dtype=torch.float64)
    start32 = rho0.float().double()  # float32 runs start from the rounded ρ
    want = drift(rho0, 1, torch.float64, args.steps, args.set) - rho0
    rows = []
    for every in args.every:
        for dtype in (torch.float32, torch.float64):
            if dtype == torch.float64 and every == 1:
                continue  # the reference itself
            got = drift(rho0, every, dtype, args.steps, args.set)
            got = got - (start32 if dtype == torch.float32 else rho0)
            err = ((got - want) / want).tolist()
            rows.append({"drift_every": every, "dtype": str(dtype).removeprefix("torch."),
                         "relative_error": dict(zip(map(str, RHO0), err, strict=True)),
                         "max_abs_relative_error": max(map(abs, err))})
            worst = rows[-1]["max_abs_relative_error"]
            print(f"drift_every {every:4d} {rows[-1]['dtype']}: "
                  + " ".join(f"{e:+.3f}" for e in err) + f"   max |err| {worst:.3f}")
    write_json(args.out, {"set": args.set, "dt_ms": 0.5, "steps": args.steps, "rho0": RHO0,
                          "float64_per_step_change": want.tolist(), "rows": rows})
    print("wrote", args.out)


if __name__ == "__main__":
    main()
