"""e-prop's eligibility window against BPTT's and pair STDP's (``docs/img/online-stdp.png`` of
:mod:`hebbtorch.studies.online_stdp`)."""

from __future__ import annotations

from typing import Any

from hebbtorch.studies.stdp_fit import normalise
from hebbtorch.viz.style import figure, legend_outside


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
        ax.plot(dts, normalise(result["rules"]["pair"]), ":", color="k", label="pair STDP")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.set_title(f"{loss} loss")
        ax.set_xlabel("Δt = t_post − t_pre (ms)")
    axes[0, 0].set_ylabel("weight change (normalised)")
    legend_outside(axes[0, -1])
    return fig
