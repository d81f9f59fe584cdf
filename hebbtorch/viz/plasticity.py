"""Figures for the plasticity protocols (one function per protocol; several results overlay)."""

from __future__ import annotations

from typing import Any

from hebbtorch.errors import HebbtorchError
from hebbtorch.viz.style import STYLE, figure, legend_outside


def _label(r: dict[str, Any]) -> str:
    return r["rule"] + (f" ({r['params']})" if r.get("params") else "")


def _with_error(r: dict[str, Any]) -> str:
    """Legend label with the error against the overlaid data, when there is one."""
    if "rmse_vs_data" not in r:
        return _label(r)
    nmse = f", E {r['nmse_vs_data']:.1f}" if "nmse_vs_data" in r else ""
    return f"{_label(r)}: RMSE {r['rmse_vs_data']:.3f}{nmse}"


def plot_window(results: list[dict[str, Any]]):
    fig, axes = figure(width=4.5, height=3.2)
    ax = axes[0, 0]
    d = results[0]["data"]
    if d:
        ax.plot(d["dt_ms"], d["dw"], "s", color="0.55", mfc="none", ms=4,
                label="Bi & Poo 1998 (digitised)")
    for r in results:
        line = ax.plot(r["dt_ms"], r["dw"], "o", ms=3, label=_with_error(r))[0]
        if "analytic" in r:
            ax.plot(r["dt_ms"], r["analytic"], "-", lw=1, color=line.get_color(), alpha=0.7,
                    label=f"{r['rule']} analytic")
    r0 = results[0]
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="Δt = t_post - t_pre (ms)", ylabel="relative weight change",
           title=f"STDP window ({r0['n_pairs']} pairs at {r0['freq_hz']:g} Hz)")
    legend_outside(ax)
    return fig


def plot_frequency(results: list[dict[str, Any]]):
    fig, axes = figure(width=4.5, height=3.2)
    ax = axes[0, 0]
    d = results[0]["data"]
    if d:
        ax.errorbar(d["freq_hz"], d["dw_plus10"], d["sem_plus10"], fmt="s", color="k", ms=4,
                    label="Sjöström 2001, +10 ms")
        ax.errorbar(d["freq_hz"], d["dw_minus10"], d["sem_minus10"], fmt="s", mfc="w", color="k",
                    ms=4, label="Sjöström 2001, -10 ms")
    for r in results:
        line = ax.plot(r["freq_hz"], r["dw_plus10"], "-", label=_with_error(r))[0]
        ax.plot(r["freq_hz"], r["dw_minus10"], "--", color=line.get_color())
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="pairing frequency (Hz)", ylabel="relative weight change",
           title="frequency dependence (solid +10 ms, dashed -10 ms)")
    legend_outside(ax)
    return fig


TRIPLET_GROUPS = ("pair", "pre_post_pre", "post_pre_post")


def plot_triplets(results: list[dict[str, Any]]):
    fig, axes = figure(1, 2, width=4.4, height=3.4)
    ax, bx = axes[0, 0], axes[0, 1]
    r0, n = results[0], len(results)
    names = [f"{d:+g}" for d in r0["pair"]["dt_ms"]]
    for g in TRIPLET_GROUPS[1:]:
        names += [f"{a:+g}/{b:+g}" for a, b in r0[g]["dts"]]
    for i, r in enumerate(results):
        vals = [v for g in TRIPLET_GROUPS for v in r[g]["dw"]]
        x = [k + (i - (n - 1) / 2) * 0.8 / n for k in range(len(vals))]
        ax.bar(x, vals, width=0.8 / n, label=_with_error(r))
        bx.plot(r["quadruplet"]["T_ms"], r["quadruplet"]["dw"], "o-", ms=3, label=_label(r))
    d = r0["data"]
    if d:
        ax.errorbar(range(len(names)), [v for g in TRIPLET_GROUPS for v in d[g]["dw"]],
                    [v for g in TRIPLET_GROUPS for v in d[g]["sem"]], fmt="s", color="k",
                    ms=3, label="Wang et al. 2005")
        q = d["quadruplet"]
        bx.errorbar(q["T_ms"], q["dw"], q["sem"], fmt="s", color="k", ms=4,
                    label="Wang et al. 2005")
    ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
    for edge in (1.5, 5.5):
        ax.axvline(edge, color="k", lw=0.5)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(title="pairs | pre-post-pre | post-pre-post", xlabel="Δt or (Δt1, Δt2) (ms)",
           ylabel="relative weight change")
    bx.axhline(0, color="k", lw=0.5)
    bx.set(title="quadruplets (±5 ms pairs, onsets T apart)", xlabel="T (ms)")
    # below the left panel (inside, the labels would cover the bars), right of the right one
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.32), fontsize=STYLE["legend.fontsize"])
    legend_outside(bx)
    return fig


def plot_rate(results: list[dict[str, Any]]):
    fig, axes = figure(width=4.5, height=3.2)
    ax = axes[0, 0]
    for r in results:
        for name, style in (("uncorrelated", "o-"), ("correlated", "s--")):
            if name not in r:
                continue
            v = r[name]
            ax.errorbar(r["post_rate_hz"], v["drift_per_s"], v["sem"], fmt=style, ms=3,
                        label=f"{_label(r)}, {name}")
    r0 = results[0]
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="postsynaptic rate (Hz)", ylabel="Δw per second",
           title=f"rate protocol (pre {r0['pre_rate_hz']:g} Hz, c = {r0['correlation']:g})")
    legend_outside(ax)
    return fig


def plot_speed(results: list[dict[str, Any]]):
    fig, axes = figure(width=4.5, height=3.2)
    ax = axes[0, 0]
    r = results[0]
    for name in ("uncorrelated", "correlated"):
        traj = r[name]["w_mean_per_s"]
        ax.plot(range(len(traj)), traj, "o-", ms=3,
                label=f"{name} (pre {r[name]['pre_rate_hz']:.1f} Hz, post "
                      f"{r[name]['post_rate_hz']:.1f} Hz)")
    ax.set(xlabel="time (s)", ylabel="mean weight",
           title=f"calcium-trace rule: learning speed (c = {r['correlation']:g})")
    legend_outside(ax)
    return fig


PLOTS = {"window": plot_window, "frequency": plot_frequency, "triplets": plot_triplets,
         "rate": plot_rate, "speed": plot_speed}


def plot_protocol(name: str, results: list[dict[str, Any]]):
    if name not in PLOTS:
        raise HebbtorchError(f"no plot for protocol {name!r}")
    return PLOTS[name](results)
