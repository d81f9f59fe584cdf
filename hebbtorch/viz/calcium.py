"""Figures of the calcium-bistable rule: traces and X during a protocol, the fit to published
data, supervised learning curves (docs/calcium.md)."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np

from hebbtorch.viz.plasticity import plot_rate
from hebbtorch.viz.style import figure, legend_outside


def plot_calcium_protocol(rec: dict[str, Any]):
    """Traces (pre calcium x, post calcium C, fast post trace y) with the stop-learning
    thresholds, and the internal variable X, from :func:`record_protocol`."""
    fig, axes = figure(2, 1, width=5.5, height=2.4, sharex=True)
    t = rec["t_ms"]
    ax = axes[0, 0]
    ax.plot(t, rec["x_pre"], lw=1, label="pre calcium x")
    ax.plot(t, rec["C"], lw=1.2, label="post calcium C")
    ax.plot(t, rec["y"], lw=0.8, alpha=0.7, label="fast post trace y")
    for name, style in (("theta_up_l", ":"), ("theta_up_h", "--"), ("theta_down_h", "-.")):
        v = rec["params"][name]
        if 0 < v < 1:
            ax.axhline(v, color="k", ls=style, lw=0.7, label=name)
    for tp in rec["pre_ms"]:
        ax.axvline(tp, ymin=0.95, color="C0", lw=0.8)
    for tq in rec["post_ms"]:
        ax.axvline(tq, ymin=0.9, ymax=0.95, color="C3", lw=0.8)
    ax.set(ylabel="trace (bounded in [0, 1])", ylim=(0, 1.02), title=rec["title"])
    legend_outside(ax)
    ax = axes[1, 0]
    ax.plot(t, rec["X"], color="k", lw=1.2)
    ax.axhline(rec["params"]["theta_X"], color="0.5", ls="--", lw=0.7)
    ax.set(xlabel="time (ms)", ylabel="X (efficacy: X > θ_X)")
    return fig


def plot_calcium_fit(fits: list[dict[str, Any]], data: dict[str, Any], bipoo: dict[str, Any]):
    """Sjöström et al. 2001 (left) and Bi & Poo 1998 (right) with each fitted set."""
    fig, axes = figure(1, 2, width=4.6, height=3.4)
    ax = axes[0, 0]
    f = data["freq_hz"]
    ax.errorbar(f, data["dw_plus10"], data["sem_plus10"], fmt="s", color="C0", mfc="none",
                label="data +10 ms")
    ax.errorbar(f, data["dw_minus10"], data["sem_minus10"], fmt="s", color="C3", mfc="none",
                label="data -10 ms")
    for i, r in enumerate(fits):
        s = r["sjostrom"]
        ls = ("-", "--", ":")[i % 3]
        ax.plot(f, s["dw_plus10"], ls, color="C0", lw=1,
                label=f"{r['name']}: {s['within_sem']}/10 in SEM, RMSE {s['rmse_vs_data']:.3f}")
        ax.plot(f, s["dw_minus10"], ls, color="C3", lw=1)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="pairing frequency (Hz)", ylabel="relative change",
           title="Sjöström et al. 2001 (60 pairings)")
    ax.legend(fontsize=6)  # left of two panels: outside, it would cover the right one
    ax = axes[0, 1]
    ax.plot(bipoo["dt_ms"], bipoo["dw"], "s", color="0.55", mfc="none", ms=4,
            label="Bi & Poo 1998 (digitised)")
    for i, r in enumerate(fits):
        b = r["bi_poo"]
        order = sorted(range(len(b["dt_ms"])), key=lambda k: b["dt_ms"][k])
        ax.plot([b["dt_ms"][k] for k in order], [b["dw"][k] for k in order],
                ("-", "--", ":")[i % 3], lw=1, label=f"{r['name']}: RMSE {b['rmse_vs_data']:.3f}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="Δt = t_post - t_pre (ms)", title="Bi & Poo 1998 (60 pairs at 1 Hz)")
    legend_outside(ax)
    return fig


def plot_rate_curves(rates: list[dict[str, Any]]):
    """Drift per second vs post rate (Poisson pre at a fixed rate), one line per set: the
    shared rate-protocol figure of :func:`hebbtorch.viz.plasticity.plot_rate`."""
    return plot_rate(rates)


def plot_learning_curves(runs: list[dict[str, Any]],
                         title: str = "supervised, calcium-bistable rule only"):
    """Validation accuracy vs training images seen, one line per run (label: run['name']);
    a run with ``per_seed`` (several seeds) is drawn as mean ± sd over its seeds."""
    fig, axes = figure(width=4.8, height=3.2)
    ax = axes[0, 0]
    colors = mpl.colormaps["tab10" if len(runs) <= 10 else "tab20"].colors  # one per run
    for i, r in enumerate(runs):
        color = colors[i % len(colors)]
        seeds = r.get("per_seed", [r])
        xs = [e["images_seen"] for e in seeds[0]["curve"]]
        acc = np.array([[100 * e["accuracy"] for e in s["curve"]] for s in seeds])
        mean, sd = acc.mean(0), acc.std(0, ddof=1) if len(seeds) > 1 else np.zeros(len(xs))
        label = r["name"] + (f" (n={len(seeds)})" if len(seeds) > 1 else "")
        ax.plot(xs, mean, "o-", ms=3, label=label, color=color)
        ax.fill_between(xs, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
    ax.set(xlabel="training images seen", ylabel="validation accuracy (%)", title=title)
    legend_outside(ax)
    return fig
