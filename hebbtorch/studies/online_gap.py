"""How far e-prop and OTTT are from BPTT where they are approximations: cosine similarity and
relative norm of each hidden weight matrix's gradient against BPTT's (float64, same network,
same input, same reset choice), over several random networks.

    python -m hebbtorch.studies.online_gap [--seeds 0 1 2 3 4] [--out FILE]
"""

from __future__ import annotations

import argparse

import torch

from hebbtorch.io import write_json
from hebbtorch.learning.online import grads
from hebbtorch.learning.online_net import OnlineSNN

CASES = {  # name: (learning, network options)
    "eprop, 1 FF LIF layer (exact)": ("eprop", dict(sizes=(40, 64, 5))),
    "eprop, recurrent LIF": ("eprop", dict(sizes=(40, 64, 5), recurrent=True)),
    "eprop, recurrent ALIF": ("eprop", dict(sizes=(40, 64, 5), recurrent=True, neuron="alif",
                                            rho=0.98)),
    "eprop-random, 1 FF LIF layer": ("eprop-random", dict(sizes=(40, 64, 5))),
    "ottt, 1 FF LIF layer, kappa 0 (exact)": ("ottt", dict(sizes=(40, 64, 5), kappa=0.0)),
    "ottt, 1 FF LIF layer, kappa 0.9": ("ottt", dict(sizes=(40, 64, 5))),
    "ottt, 2 FF LIF layers, kappa 0": ("ottt", dict(sizes=(40, 64, 64, 5), kappa=0.0)),
    "ottt, 2 FF LIF layers, kappa 0.9": ("ottt", dict(sizes=(40, 64, 64, 5))),
    "ottt, recurrent LIF": ("ottt", dict(sizes=(40, 64, 5), recurrent=True)),
    "ottt, recurrent ALIF": ("ottt", dict(sizes=(40, 64, 5), recurrent=True, neuron="alif",
                                          rho=0.98)),
}
T, BATCH, P_IN = 100, 16, 0.1


def compare(learning: str, options: dict, seed: int) -> dict:
    torch.manual_seed(seed)
    net = OnlineSNN(**options).double()
    with torch.no_grad():  # enough drive that every layer spikes
        for layer in net.w_in:
            layer.weight.mul_(4.0)
    x = (torch.rand(T, BATCH, options["sizes"][0], dtype=torch.float64) < P_IN).double()
    labels = torch.randint(0, options["sizes"][-1], (BATCH,))
    out = {}
    for m in ("bptt", learning):
        net.zero_grad(set_to_none=True)
        grads(net, x, labels, m)
        out[m] = {k: p.grad.clone() for k, p in net.named_parameters() if "weight" in k}
    rows = {}
    for k, g in out["bptt"].items():
        h = out[learning][k]
        rows[k] = {"cosine": float(torch.nn.functional.cosine_similarity(
            h.flatten(), g.flatten(), 0)), "norm_ratio": float(h.norm() / g.norm())}
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="online vs BPTT gradient alignment")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default="bench/results/online-gap.json")
    args = ap.parse_args(argv)
    result = {"T": T, "batch": BATCH, "input_spike_probability": P_IN, "dtype": "float64",
              "command": "python -m hebbtorch.studies.online_gap --seeds "
                         + " ".join(map(str, args.seeds)), "cases": {}}
    rows = result["rows"] = []  # one per case, weight matrix and seed: what the docs cite
    for name, (learning, options) in CASES.items():
        per_seed = [compare(learning, options, s) for s in args.seeds]
        rows += [{"case": name, "weight": k, "seed": s, **v}
                 for s, r in zip(args.seeds, per_seed, strict=True) for k, v in r.items()]
        summary = {}
        for k in per_seed[0]:
            for stat in ("cosine", "norm_ratio"):
                v = torch.tensor([r[k][stat] for r in per_seed])
                summary.setdefault(k, {})[stat] = {"mean": float(v.mean()), "sd": float(v.std()),
                                                   "min": float(v.min())}
        result["cases"][name] = {"learning": learning, "network": options, "weights": summary}
        print(name, {k: round(v["cosine"]["mean"], 4) for k, v in summary.items()}, flush=True)
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
