"""The e-prop eligibility trace as an STDP window: the two-neuron protocol of
:mod:`hebbtorch.studies.bptt_stdp`, with the weight change computed by e-prop instead of BPTT.

For the plastic synapse of each pairing (pre spike at ``t_post - Δt``, post spike forced at
``t_post``), e-prop's update is ``-sum_t L^t e^t`` with the eligibility trace
``e^t = psi^t zbar^t`` (psi: surrogate derivative of the post neuron, zbar: presynaptic spikes
low-pass filtered with the membrane decay) and the learning signal ``L^t = dE/dz^t`` (the loss's
direct dependence on the post spike at t). The only path BPTT has and e-prop drops here is the
reset's (one neuron, no recurrence), so the two windows differ exactly by it. Both are fitted
with :func:`hebbtorch.studies.stdp_fit.fit_window` and held against the pair, triplet and
calcium rules' windows (Bi & Poo protocol).

    python -m hebbtorch.studies.online_stdp [--out bench/results/online-stdp.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.io import write_json
from hebbtorch.neurons.lif import LIFParameters, lif_sequence
from hebbtorch.neurons.surrogate import get_surrogate
from hebbtorch.studies.bptt_stdp import (
    LOSSES,
    ProtocolConfig,
    bptt_window,
    protocol_loss,
    stdp_rule_windows,
    validate_config,
)
from hebbtorch.studies.stdp_fit import fit_window, pearson


def eprop_window(c: ProtocolConfig) -> dict[str, Any]:
    """e-prop weight change vs Δt on the protocol (``lif-<surrogate>`` neurons only)."""
    c = validate_config(c)
    if not c.neuron.startswith("lif-") or c.noise or c.tail_tau:
        raise HebbtorchError("the e-prop window needs a lif-<surrogate> neuron, no noise, no tail")
    dts = torch.tensor(c.dts, dtype=torch.long)
    B, T = len(c.dts), c.n_steps
    pre = torch.zeros(T, B, 1, dtype=torch.float64)
    pre[c.t_post - dts, torch.arange(B), 0] = 1.0
    drive = torch.zeros_like(pre)
    drive[c.t_post, :, 0] = 1.0
    p = LIFParameters(beta=0.9, threshold=1.0, reset="subtract", surrogate=c.neuron[4:])
    out = lif_sequence(c.w0 * pre + c.drive * drive, p, backend="reference")
    sur = get_surrogate(p.surrogate)
    psi = sur.grad(out.v - p.threshold, sur.default_slope)
    zbar = torch.zeros_like(pre)
    acc = torch.zeros(B, 1, dtype=torch.float64)
    for t in range(T):
        acc = p.beta * acc + pre[t]
        zbar[t] = acc
    spikes = out.spikes.detach().requires_grad_()
    loss = protocol_loss(c, spikes, 0)
    (L,) = torch.autograd.grad(loss, spikes)  # dE/dz^t: the learning signal
    update = -(L * psi * zbar).sum(0)[:, 0]
    return {"dt_ms": list(c.dts), "update": update.tolist(),
            "post_spike_count": (out.spikes[..., 0] > 0).sum(0).tolist()}


def window_study(neuron: str = "lif-fast_sigmoid", losses=LOSSES) -> dict[str, Any]:
    base = ProtocolConfig(neuron=neuron)
    rules = stdp_rule_windows(list(base.dts))
    result: dict[str, Any] = {"neuron": neuron, "protocol": base._asdict(), "losses": {},
                              "rules": {k: v["dw"] for k, v in rules.items()}}
    for loss in losses:
        c = base._replace(loss=loss)
        e, b = eprop_window(c), bptt_window(c)
        row = {"eprop": e["update"], "bptt": b["update"],
               "pearson_eprop_bptt": pearson(e["update"], b["update"]),
               "fit_eprop": fit_window(c.dts, e["update"]),
               "fit_bptt": fit_window(c.dts, b["update"]),
               "pearson_eprop_rules": {k: pearson(e["update"], v["dw"])
                                       for k, v in rules.items()}}
        result["losses"][loss] = row
        print(f"{loss}: pearson(e-prop, BPTT) {row['pearson_eprop_bptt']}", flush=True)
    return result


def plot(result: dict[str, Any], path: str | Path) -> None:
    from hebbtorch.io import save_figure
    from hebbtorch.viz.online import eprop_window_figure

    save_figure(eprop_window_figure(result), path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="e-prop eligibility window vs BPTT and STDP")
    ap.add_argument("--out", default="bench/results/online-stdp.json")
    ap.add_argument("--plot", default="docs/img/online-stdp.png")
    args = ap.parse_args(argv)
    result = window_study()
    result["command"] = "python -m hebbtorch.studies.online_stdp"
    write_json(args.out, result)
    plot(result, args.plot)
    print(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
