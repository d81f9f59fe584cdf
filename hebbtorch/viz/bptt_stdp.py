"""Figures of the "does BPTT engender STDP?" study (:mod:`hebbtorch.studies.bptt_stdp`):
BPTT learning windows against the plasticity rules' windows, the LTD options, and the
gradient-timing histograms of a trained or training seed network. Δt = t_post − t_pre in ms
(1 step = 1 ms)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hebbtorch.io import save_figure
from hebbtorch.studies.stdp_fit import normalise
from hebbtorch.viz.style import colorbar, figure, legend_outside

RULE_STYLE = {"pair": ("k", "--"), "triplet": ("tab:purple", ":"), "gb": ("tab:brown", "-."),
              "calcium": ("tab:green", (0, (1, 3)))}
DT_LABEL = "Δt = t_post − t_pre (ms)"


def _zero_lines(ax) -> None:
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)


def _panel(ax, title: str, xlabel: bool, ylabel: str | None, ncols: int = 1) -> None:
    """Zero lines, title; the Δt label on the bottom row (short when many columns share the
    width), ``ylabel`` on the left column."""
    _zero_lines(ax)
    ax.set_title(title, fontsize=8)
    if xlabel:
        ax.set_xlabel(DT_LABEL if ncols <= 3 else "Δt (ms)")
    if ylabel:
        ax.set_ylabel(ylabel)


def _grid(keys: list[str]) -> tuple[list[str], list[str]]:
    """Neurons (columns) and losses (rows) of ``neuron/loss[/...]`` keys, in order."""
    return (list(dict.fromkeys(k.split("/")[0] for k in keys)),
            list(dict.fromkeys(k.split("/")[1] for k in keys)))


def protocol_grid_figure(study: dict[str, Any], rules: dict[str, Any] | None):
    """Rows = losses, columns = neurons; BPTT window (bold) and the rules' windows, each curve
    divided by its own largest |value|."""
    neurons, losses = _grid(list(study["windows"]))
    fig, axes = figure(len(losses), len(neurons), width=2.6, height=2.0, sharex=True)
    for i, loss in enumerate(losses):
        for j, n in enumerate(neurons):
            ax = axes[i, j]
            r = study["windows"][f"{n}/{loss}"]
            for name, rw in (rules or {}).items():
                col, ls = RULE_STYLE.get(name, ("gray", "--"))
                ax.plot(r["dt_ms"], normalise(rw["dw"]), color=col, ls=ls, lw=0.8, alpha=0.7,
                        label=f"{name} STDP")
            ax.plot(r["dt_ms"], normalise(r["update"]), color="tab:red", lw=1.6,
                    label="BPTT −dL/dw")
            ax.set_ylim(-1.1, 1.1)
            _panel(ax, f"{n} / {loss}", i == len(losses) - 1,
                   "Δw / max|Δw|" if j == 0 else None, len(neurons))
    legend_outside(axes[0, -1])
    return fig


def ltd_figure(study: dict[str, Any], neurons=None):
    """Rows = losses, columns = neurons: plain window vs weight decay vs after-spike tail, all
    divided by the plain window's max |value| (so offsets and vanishing stay visible)."""
    ns, ls = _grid([k.rsplit("/", 1)[0] for k in study["ltd"]])
    ns = [n for n in ns if neurons is None or n in neurons]
    fig, axes = figure(len(ls), len(ns), width=2.6, height=2.0, sharex=True)
    for i, loss in enumerate(ls):
        for j, n in enumerate(ns):
            ax, k = axes[i, j], f"{n}/{loss}"
            plain = study["windows"][k]
            scale = max(abs(v) for v in plain["update"]) or 1.0
            ax.plot(plain["dt_ms"], np.asarray(plain["update"]) / scale, color="tab:red",
                    lw=1.5, label="plain BPTT")
            for name, col in (("weight_decay", "tab:blue"), ("after_spike_tail", "tab:orange")):
                r = study["ltd"][f"{k}/{name}"]
                ax.plot(r["dt_ms"], np.asarray(r["update"]) / scale, color=col, lw=1.0,
                        label=name.replace("_", " "))
            _panel(ax, k, i == len(ls) - 1, "Δw / max|plain Δw|" if j == 0 else None, len(ns))
    legend_outside(axes[0, -1])
    return fig


def seed_timing_figure(result: dict[str, Any], title: str = "", max_lag: int = 60):
    """Per layer: mean update per pre/post term, summed update, and term counts vs Δt."""
    layers = list(result["layers"])
    fig, axes = figure(3, len(layers), width=3.4, height=1.9, sharex=True)
    for j, name in enumerate(layers):
        d = result["layers"][name]
        lags = np.asarray(d["lag_steps"])
        keep = np.abs(lags) <= max_lag
        axes[0, j].plot(lags[keep], np.asarray(d["mean_update"], float)[keep], ".-", ms=2, lw=0.8)
        axes[0, j].set_title(f"{title} {name}".strip(), fontsize=8)
        axes[1, j].bar(lags[keep], np.asarray(d["update"])[keep], width=1.0, color="tab:red")
        axes[2, j].bar(lags[keep], np.asarray(d["counts"])[keep], width=1.0, color="gray")
        axes[2, j].set_yscale("log")
        axes[2, j].set_xlabel(DT_LABEL)
        for ax in axes[:2, j]:
            _zero_lines(ax)
        axes[2, j].axvline(0, color="k", lw=0.5)
    axes[0, 0].set_ylabel("mean −dL/dw per term")
    axes[1, 0].set_ylabel("sum −dL/dw")
    axes[2, 0].set_ylabel("terms (count)")
    return fig


def epochs_figure(result: dict[str, Any], max_lag: int = 40):
    """Mean update per term vs Δt after each epoch (normalised per epoch), per layer; the
    epoch is the line's colour (colour bar)."""
    import matplotlib as mpl

    layers = list(result["per_epoch"][0]["layers"])
    fig, axes = figure(1, len(layers), width=3.4, height=2.4)
    n = len(result["per_epoch"])
    norm = mpl.colors.Normalize(0, max(n - 1, 1))
    cmap = mpl.colormaps["viridis"]
    for j, name in enumerate(layers):
        ax = axes[0, j]
        for e, r in enumerate(result["per_epoch"]):
            d = r["layers"][name]
            lags = np.asarray(d["lag_steps"])
            keep = np.abs(lags) <= max_lag
            ax.plot(lags[keep], normalise(np.asarray(d["mean_update"], float)[keep]),
                    color=cmap(norm(e)), lw=1.0)
        _panel(ax, name, True, None, len(layers))
    axes[0, 0].set_ylabel("mean −dL/dw per term\n(normalised)")
    colorbar(mpl.cm.ScalarMappable(norm, cmap), axes[0, -1], "epochs trained")
    return fig


def plot_protocol_grid(study: dict[str, Any], rules: dict[str, Any] | None, path) -> None:
    """:func:`protocol_grid_figure` saved to ``path``."""
    save_figure(protocol_grid_figure(study, rules), path)


def plot_ltd(study: dict[str, Any], path, neurons=None) -> None:
    """:func:`ltd_figure` saved to ``path``."""
    save_figure(ltd_figure(study, neurons), path)


def plot_seed_timing(result: dict[str, Any], path, title: str = "", max_lag: int = 60) -> None:
    """:func:`seed_timing_figure` saved to ``path``."""
    save_figure(seed_timing_figure(result, title, max_lag), path)


def plot_epochs(result: dict[str, Any], path, max_lag: int = 40) -> None:
    """:func:`epochs_figure` saved to ``path``."""
    save_figure(epochs_figure(result, max_lag), path)
