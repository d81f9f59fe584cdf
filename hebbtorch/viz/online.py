"""e-prop's eligibility window against BPTT's and pair STDP's: the two-neuron protocol
(``docs/img/online-stdp.png``, :mod:`hebbtorch.studies.online_stdp`) and the trained cue network
(``docs/img/online-stdp-trained.png``, :mod:`hebbtorch.studies.online_stdp_trained`); and
the cue task's accuracy against the delay (``docs/img/online-cue-delay.png``,
:mod:`hebbtorch.studies.online_accuracy`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hebbtorch.studies.stdp_fit import normalise
from hebbtorch.viz.style import figure, legend_outside


def _finish_panel(ax, x, pair: list[float], title: str) -> None:
    """Pair STDP (dotted), the zero line, title and the Δt axis: the same on every panel."""
    ax.plot(x, normalise(pair), ":", color="k", label="pair STDP")
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_title(title)
    ax.set_xlabel("Δt = t_post − t_pre (ms)")


def eprop_window_figure(result: dict[str, Any]):
    """One panel per loss: BPTT's, e-prop's and pair STDP's weight change against
    Δt = t_post − t_pre (ms), each divided by its own largest |value|."""
    dts = result["protocol"]["dts"]
    losses = list(result["losses"])
    fig, axes = figure(1, len(losses), width=3.6, height=3.0, sharey=True)
    for ax, loss in zip(axes[0], losses, strict=True):
        row = result["losses"][loss]
        ax.plot(dts, normalise(row["bptt"]), label="BPTT", lw=2)
        ax.plot(dts, normalise(row["eprop"]), "--", label="e-prop trace", lw=2)
        _finish_panel(ax, dts, result["rules"]["pair"], f"{loss} loss")
    axes[0, 0].set_ylabel("weight change (normalised)")
    legend_outside(axes[0, -1])
    return fig


def trained_window_figure(result: dict[str, Any]):
    """Input and recurrent synapses of the trained cue network: BPTT's (solid) and e-prop's
    (dashed) mean update per pre/post pair against Δt = t_post − t_pre (one step = 1 ms), one
    colour per seed, each curve divided by its own largest |value|; pair STDP dotted."""
    lags = np.arange(-result["max_lag"], result["max_lag"] + 1)
    fig, axes = figure(1, 2, width=3.6, height=3.0, sharey=True)
    colours = ["tab:blue", "tab:orange", "tab:green"]
    for ax, syn in zip(axes[0], ("input", "recurrent"), strict=True):
        for c, (seed, res) in zip(colours, result["seeds"].items(), strict=False):
            row = res["trained"][syn]
            ax.plot(lags, normalise(row["bptt"]["mean_update"]), color=c, lw=1.5,
                    label=f"BPTT, seed {seed}")
            ax.plot(lags, normalise(row["eprop"]["mean_update"]), "--", color=c, lw=1.5,
                    label=f"e-prop, seed {seed}")
        _finish_panel(ax, lags, result["rules"]["pair"], f"{syn} synapses (trained)")
    axes[0, 0].set_ylabel("mean update per pair (normalised)")
    legend_outside(axes[0, -1])
    return fig


def delay_figure(curve: dict[str, Any]):
    """Cue accumulation: test accuracy (mean ± sd over seeds) of each method against the steps
    between the last cue and the recall; the 90 % goal dashed, chance (50 %) dotted.
    ``curve``: {"gap": [steps...], "methods": {name: [[accuracy per seed] per gap]}}."""
    fig, axes = figure(1, 1, width=4.6, height=3.2)
    ax = axes[0, 0]
    for name, per_gap in curve["methods"].items():
        acc = [100 * np.asarray(a, dtype=float) for a in per_gap]
        ax.errorbar(curve["gap"], [a.mean() for a in acc],
                    yerr=[a.std(ddof=1) if len(a) > 1 else 0.0 for a in acc],
                    marker="o", capsize=3, label=name)
    ax.axhline(90, color="0.4", ls="--", lw=0.8, label="goal 90 %")
    ax.axhline(50, color="0.6", ls=":", lw=0.8, label="chance")
    ax.set_xlabel("last cue to recall (steps)")
    ax.set_ylabel("test accuracy (%)")
    legend_outside(ax)
    return fig
