"""The e-prop eligibility window in a trained network: the cue-accumulation network (recurrent
ALIF, :mod:`hebbtorch.studies.online_accuracy`) after BPTT training, its weight updates split by
pre/post spike timing with the ``bptt-stdp`` tools, e-prop's against BPTT's and the STDP rules'.

Both updates are written as ``-dE/dW = -sum_t delta(t)^T X(t)`` with ``delta = dE/dI`` (the
hidden layer's input current) and X the presynaptic activity at t (input spikes, or the layer's
own spikes z^{t-1} for recurrent synapses), so :func:`hebbtorch.studies.gradient_timing.
attribute_gradient` files each term under Δt = t_post - t_pre exactly as for BPTT. e-prop's
delta is BPTT's on the same network with the recurrent spikes z^{t-1} a stop-gradient in the
current (the weights still get their gradient): its learning signal is the loss's direct
dependence on z^t, and the neuron's own memory (membrane, adaptation) is what its eligibility
trace carries; the test suite checks that this equals :func:`~hebbtorch.learning.eprop.
eprop_grads`. One step is taken as 1 ms for the comparison with the rules' windows.

    python -m hebbtorch.studies.online_accuracy --tasks cue-accumulation --learning bptt \\
        --seeds K --save-dir NETS --out FILE          # train, K = 0, 1, 2
    python -m hebbtorch.studies.online_stdp_trained --nets NETS
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from hebbtorch.data.cue_accumulation import cue_accumulation
from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.online_net import OnlineSNN, sequence_loss
from hebbtorch.studies.gradient_timing import attribute_gradient
from hebbtorch.studies.stdp_fit import fit_window, pearson

MAX_LAG = 30


def current_deltas(net: OnlineSNN, x: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                   *, online: bool) -> dict[str, torch.Tensor]:
    """delta = dE/dI ``[T, B, n]`` of the single hidden layer, by BPTT (``online`` False) or
    e-prop (True: recurrent spikes a stop-gradient), with the presynaptic activities and the
    post spikes ``[T, B, *]``."""
    if len(net.sizes) != 3:
        raise HebbtorchError(f"one hidden layer expected, got sizes {net.sizes}")
    st = net.initial_state(x.shape[1], x)
    currents, ys, zs, zprev = [], [], [], []
    y = st.y
    layer = st.layers[0]
    for xt in x.unbind(0):
        rec = layer.z.detach() if online else layer.z
        cur = net.w_in[0](xt)
        if net.recurrent:
            cur = cur + F.linear(rec, net.rec_weight(0))
        currents.append(cur)
        zprev.append(layer.z.detach())
        z, _, layer = net.hidden_step(0, cur, layer)
        y = net.kappa * y + net.readout(z)
        ys.append(y)
        zs.append(z)
    loss = sequence_loss(torch.stack(ys), labels, weights)
    delta = torch.stack(torch.autograd.grad(loss, currents))
    return {"delta": delta, "input": x, "recurrent": torch.stack(zprev),
            "post": torch.stack(zs).detach()}


def _window(delta, pre, post) -> dict[str, Any]:
    h = attribute_gradient(delta, pre, post, mode="nearest")
    lags = h.lags.numpy()
    keep = np.abs(lags) <= MAX_LAG
    mean = h.mean_update.numpy()[keep]
    return {"lag_steps": lags[keep].tolist(), "mean_update": mean.tolist(),
            "counts": h.counts.numpy()[keep].tolist(),
            "fit": fit_window(lags[keep][np.isfinite(mean)], mean[np.isfinite(mean)])}


def windows(net: OnlineSNN, n_trials: int = 200, seed: int = 0) -> dict[str, Any]:
    """BPTT's and e-prop's windows for input and recurrent synapses on ``n_trials`` fresh
    trials, with their correlation."""
    trials = cue_accumulation(n_trials, seed=20_000 + seed)
    out: dict[str, Any] = {}
    got = {m: current_deltas(net, trials.x, trials.labels, trials.loss_weights, online=m)
           for m in (False, True)}
    for syn in ("input", "recurrent") if net.recurrent else ("input",):
        row = {name: _window(got[m]["delta"], got[m][syn], got[m]["post"])
               for name, m in (("bptt", False), ("eprop", True))}
        b, e = np.array(row["bptt"]["mean_update"]), np.array(row["eprop"]["mean_update"])
        ok = np.isfinite(b) & np.isfinite(e)
        row["pearson_eprop_bptt"] = pearson(e[ok], b[ok])
        out[syn] = row
    return out


def study(nets: Path, seeds=(0, 1, 2), config: dict | None = None) -> dict[str, Any]:
    from hebbtorch.studies.bptt_stdp import stdp_rule_windows
    from hebbtorch.studies.online_accuracy import TASKS

    cfg = config or TASKS["cue-accumulation"]["net"]
    lags = list(range(-MAX_LAG, MAX_LAG + 1))
    rules = {k: v["dw"] for k, v in stdp_rule_windows(lags).items()}
    result: dict[str, Any] = {"max_lag": MAX_LAG, "rules": rules, "seeds": {}}
    for seed in seeds:
        path = Path(nets) / f"cue-accumulation-bptt-seed{seed}.pt"
        if not path.is_file():
            raise HebbtorchError(f"no trained network {path}: train it first (see --help)")
        torch.manual_seed(seed)
        net = OnlineSNN(**cfg)
        initial = windows(net, seed=seed)
        net.load_state_dict(torch.load(path, weights_only=True))
        trained = windows(net, seed=seed)
        for res in (initial, trained):
            for row in res.values():
                for m in ("bptt", "eprop"):
                    w = np.array(row[m]["mean_update"])
                    ok = np.isfinite(w)
                    row[m]["pearson_rules"] = {
                        k: pearson(w[ok], np.array(v)[ok]) for k, v in rules.items()}
        result["seeds"][str(seed)] = {"initial": initial, "trained": trained}
        print(f"seed {seed}: r(e-prop, BPTT) trained input "
              f"{trained['input']['pearson_eprop_bptt']:.3f}, recurrent "
              f"{trained['recurrent']['pearson_eprop_bptt']:.3f}", flush=True)
    return result


def plot(result: dict[str, Any], path: str | Path) -> None:
    from hebbtorch.io import save_figure
    from hebbtorch.viz.online import trained_window_figure

    save_figure(trained_window_figure(result), path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="e-prop vs BPTT timing windows, trained network")
    ap.add_argument("--nets", required=True, help="folder of the trained state_dicts")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="bench/results/online-stdp-trained.json")
    ap.add_argument("--plot", default="docs/img/online-stdp-trained.png")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    result = study(Path(args.nets), args.seeds)
    result["command"] = "python -m hebbtorch.studies.online_stdp_trained --nets NETS"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, allow_nan=True) + "\n")
    plot(result, args.plot)
    print(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
