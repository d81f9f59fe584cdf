"""Where Graupner & Brunel's calcium sits in the Diehl & Cook network: for each calcium setting,
present mnist-5k images to a fresh 100-neuron network learning with ``gb`` (the experiment's
setup, times above threshold kept) and average, per synapse class -- input active or silent in
the image x neuron fired or not -- the time the calcium spent above θ_d and θ_p during the
presentation, with the efficacy each class is pulled towards (ρ̄ = γ_p t_p / (γ_p t_p + γ_d t_d))
and how far per presentation ((γ_p t_p + γ_d t_d) / τ). Writes
bench/results/gb-calcium-probe.json. docs/unsupervised.md, "Graupner-Brunel in the network".

    OMP_NUM_THREADS=1 .venv/bin/python scripts/gb_calcium_probe.py
    OMP_NUM_THREADS=1 .venv/bin/python scripts/gb_calcium_probe.py --set cortical_slices \
        --calcium 0.2,1.2 0.1,1.2 --intensity 2 4 --out bench/results/gb-calcium-probe-cs.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from hebbtorch.data import load_dataset
from hebbtorch.io import write_json
from hebbtorch.learning.unsupervised import make_rule
from hebbtorch.networks.diehl_cook import N_INPUT, DiehlCookNetwork, DiehlCookParameters
from hebbtorch.plasticity import GraupnerBrunel

ROOT = Path(__file__).resolve().parents[1]
CLASSES = (("active", "fired"), ("silent", "fired"), ("active", "quiet"), ("silent", "quiet"))


def probe(c_pre: float, c_post: float, images: torch.Tensor, neurons: int,
          intensity: float, gb_set: str = "DP") -> dict:
    setup = make_rule("gb", gb_calcium=(c_pre, c_post), gb_set=gb_set)
    p = setup.rule.params
    rule = GraupnerBrunel(p, w0=setup.rule.w0, times=True)
    net = DiehlCookNetwork(neurons, rule, bounds=setup.bounds,
                           params=DiehlCookParameters(intensity=intensity),
                           w_init=setup.init(neurons, torch.Generator().manual_seed(0)))
    sums = torch.zeros(len(CLASSES), 2, dtype=torch.float64)
    counts = torch.zeros(len(CLASSES))
    for k in tqdm(range(len(images)), desc=f"C_pre {c_pre}, C_post {c_post}", leave=False):
        spikes, _ = net.present(images[k:k + 1], learn=True, seed=k)
        st = net.learner.rule_state  # since the last normalisation: the attempt that counted
        active, fired = images[k] > 0, spikes[0] > 0
        for g, (a, f) in enumerate(CLASSES):
            m = (active == (a == "active")).unsqueeze(1) & (fired == (f == "fired")).unsqueeze(0)
            if m.any():
                sums[g] += torch.stack([st.t_d[0][m].mean(), st.t_p[0][m].mean()]).double()
                counts[g] += 1
    rows = []
    for g, (a, f) in enumerate(CLASSES):
        t_d, t_p = (sums[g] / counts[g].clamp_min(1)).tolist()
        drive = p.gamma_p * t_p + p.gamma_d * t_d  # ms
        rows.append({"input": a, "neuron": f, "t_d_ms": t_d, "t_p_ms": t_p,
                     "rho_target": p.gamma_p * t_p / drive if drive else None,
                     "pull_per_presentation": drive / (p.tau * 1000.0)})
    return {"set": gb_set, "C_pre": c_pre, "C_post": c_post, "intensity": intensity,
            "classes": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calcium", nargs="+", default=["1,2", "0.3,1"],
                    help="C_pre,C_post pairs (1,2: the DP set)")
    ap.add_argument("--set", default="DP", help="Graupner & Brunel's fitted set (default DP)")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--neurons", type=int, default=100)
    ap.add_argument("--intensity", type=float, nargs="+", default=[2.0, 4.0, 6.0],
                    help="input intensities to start from (2: the original's 63.75 Hz at most; "
                    "each retry adds 1)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/gb-calcium-probe.json")
    args = ap.parse_args()
    x = load_dataset("mnist-5k", split="train").images.reshape(-1, N_INPUT)[:args.images]
    results = []
    for pair in args.calcium:
        for inten in args.intensity:
            c_pre, c_post = (float(v) for v in pair.split(","))
            r = probe(c_pre, c_post, x.float(), args.neurons, inten, args.set)
            results.append(r)
            print(f"{args.set}: C_pre {c_pre}, C_post {c_post}, intensity {inten}")
            for row in r["classes"]:
                tgt = "-" if row["rho_target"] is None else f"{row['rho_target']:.2f}"
                print(f"  {row['input']:6s} input, {row['neuron']:5s} neuron: "
                      f"t_d {row['t_d_ms']:6.1f} ms  t_p {row['t_p_ms']:6.1f} ms  rho -> {tgt}  "
                      f"pull {row['pull_per_presentation']:.3f} per presentation")
    write_json(args.out, {"images": args.images, "neurons": args.neurons, "seed": 0,
                          "torch": torch.__version__, "results": results})


if __name__ == "__main__":
    main()
