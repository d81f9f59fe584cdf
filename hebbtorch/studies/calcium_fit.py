"""Fit of the calcium-bistable rule's free parameters to Sjöström et al. 2001 (frequency
dependence, 10 points with SEM) and Bi & Poo 1998 (42 digitised pairs), by running the rule.

Readout: the drift is off during the protocols (alpha = beta = 0; it acts on the time scale of
retention, after the protocol). For additive jumps the analog change ΔX then equals the mean
change of *binary* efficacies (X > theta_X after the drift has consolidated every synapse to 0
or 1) of a population whose initial X is uniform in [0, 1]: P(X0 + ΔX > 1/2) - 1/2 = ΔX.

Both protocols go into one batched engine run (60 pairings per condition, 1 ms grid, X starts
at 0.5, Δw = 2 ΔX as for the other trace rules: :func:`hebbtorch.studies.protocols.make_rule`).
The search is a seeded random search in the box :data:`FIT_BOUNDS` followed by coordinate
refinement; every number it reports is recomputed from a fresh run of the rule.
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch

from hebbtorch.plasticity.rules.calcium_bistable import (
    CalciumBistable,
    CalciumBistableParameters,
    apply_jumps,
    bistable_drift,
    calcium_bistable_jumps,
)
from hebbtorch.studies.protocols import data_errors, on_grid, pairing_times, run_trace_rule
from hebbtorch.studies.stdp_data import BI_POO_1998, SJOSTROM_2001

# (name, low, high, log-scale) of the searched parameters; the others keep their defaults
FIT_BOUNDS: list[tuple[str, float, float, bool]] = [
    ("tau_pre", 5.0, 60.0, True), ("J_pre", 0.05, 1.0, True),
    ("tau_Ca", 20.0, 400.0, True), ("J_C", 0.02, 0.6, True),
    ("tau_y", 5.0, 60.0, True), ("J_y", 0.05, 1.0, True),
    ("a", 0.002, 1.0, True), ("b", 0.001, 0.2, True),
    ("theta_up_l", 0.0, 0.6, False), ("theta_down_h", 0.05, 1.0, False),
]


def protocol_trains(n_pairs: int = 60) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Spike times: Sjöström's 5 frequencies x (+10, -10 ms), then Bi & Poo's 42 Δt at 1 Hz."""
    pres, posts = [], []
    for f in SJOSTROM_2001["freq_hz"]:
        pr, po = pairing_times([10.0, -10.0], n_pairs, f)
        pres.append(pr)
        posts.append(po)
    pr, po = pairing_times(on_grid("calcium-bistable", BI_POO_1998["dt_ms"]), 60, 1.0)
    return torch.cat([*pres, pr]), torch.cat([*posts, po]), 2 * len(SJOSTROM_2001["freq_hz"])


def event_run(p: CalciumBistableParameters, pre_times: torch.Tensor, post_times: torch.Tensor
              ) -> torch.Tensor:
    """The engine protocol run (:func:`run_trace_rule` with X0 = 0.5, Δw = 2 ΔX, analog
    efficacy) computed event by event: one loop over the merged spike times of each row,
    vectorised over rows (a few ms instead of seconds; the search needs thousands of runs).
    Equal to the engine run up to float rounding (tests/test_calcium_bistable.py)."""
    t_pre = torch.round(pre_times.double())
    t_post = torch.round(post_times.double())
    t_all = torch.cat([t_pre, t_post], 1).sort(1).values
    # unique times per row (inf-padded): a step with both spikes is one event
    dup = torch.zeros_like(t_all, dtype=torch.bool)
    dup[:, 1:] = t_all[:, 1:] == t_all[:, :-1]
    t_ev = torch.where(dup, math.inf, t_all).sort(1).values
    is_pre = (t_ev.unsqueeze(2) == t_pre.unsqueeze(1)).any(2).double()
    is_post = (t_ev.unsqueeze(2) == t_post.unsqueeze(1)).any(2).double()
    B = t_ev.shape[0]
    x, c, y = (torch.zeros(B, dtype=torch.float64) for _ in range(3))
    X = torch.full((B,), 0.5, dtype=torch.float64)
    t_last = torch.full((B,), math.nan, dtype=torch.float64)  # drift clock starts at a pre spike
    t_prev = torch.zeros(B, dtype=torch.float64)
    for k in range(t_ev.shape[1]):
        t = t_ev[:, k]
        ok = torch.isfinite(t)
        if not bool(ok.any()):
            break
        gap = torch.where(ok, t - t_prev, 0.0)
        x, c, y = x * torch.exp(-gap / p.tau_pre), c * torch.exp(-gap / p.tau_Ca), \
            y * torch.exp(-gap / p.tau_y)
        s_pre, s_post = is_pre[:, k] * ok, is_post[:, k] * ok
        if p.alpha or p.beta:
            el = torch.where(torch.isnan(t_last) | ~ok, 0.0, t - t_last)
            X = bistable_drift(X, p, el)
        c_after = c + p.J_C * s_post * (1 - c)
        (lp, lq), (dp, dq) = calcium_bistable_jumps(s_pre, s_post, x, y, c, c_after, p)
        X = apply_jumps(X, lp * lq, dp * dq, p)
        x = x + p.J_pre * s_pre * (1 - x)
        y = y + p.J_y * s_post * (1 - y)
        c = c_after
        t_last = torch.where((s_pre > 0) | (~torch.isnan(t_last) & ok), t, t_last)
        t_prev = torch.where(ok, t, t_prev)
    return 2.0 * (X - 0.5)


def evaluate(p: CalciumBistableParameters, n_pairs: int = 60, engine: bool = False
             ) -> dict[str, Any]:
    """Run both protocols (``engine``: on :class:`PlasticConnection`, else :func:`event_run`);
    Sjöström points within one SEM, errors, Bi & Poo RMSE."""
    pre, post, k = protocol_trains(n_pairs)
    if engine:
        dw = run_trace_rule(CalciumBistable(p, w_lo=0.0, w_hi=2.0), pre, post).tolist()
    else:
        dw = event_run(p, pre, post).tolist()
    d = SJOSTROM_2001
    plus, minus = dw[0:k:2], dw[1:k:2]
    data = d["dw_plus10"] + d["dw_minus10"]
    sem = d["sem_plus10"] + d["sem_minus10"]
    model = plus + minus
    within = sum(abs(m - x) <= s for m, x, s in zip(model, data, sem, strict=True))
    sj = data_errors(model, data, sem)
    bp = data_errors(dw[k:], BI_POO_1998["dw"])
    return {"sjostrom": {"freq_hz": d["freq_hz"], "dw_plus10": plus, "dw_minus10": minus,
                         "within_sem": int(within), **sj},
            "bi_poo": {"dt_ms": on_grid("calcium-bistable", BI_POO_1998["dt_ms"]),
                       "dw": dw[k:], **bp}}


def loss(r: dict[str, Any], w_bipoo: float) -> float:
    """Sjöström normalised error (+ 1 per point outside one SEM) + w_bipoo x Bi & Poo MSE/0.1."""
    s, b = r["sjostrom"], r["bi_poo"]
    return (s["nmse_vs_data"] + (10 - s["within_sem"]) * 0.3
            + w_bipoo * b["rmse_vs_data"] ** 2 / 0.1)


def _params(vec: list[float], base: CalciumBistableParameters) -> CalciumBistableParameters:
    kw = {name: v for (name, *_), v in zip(FIT_BOUNDS, vec, strict=True)}
    kw["theta_down_h"] = max(kw["theta_down_h"], base.theta_down_l + 1e-3)
    kw["theta_up_l"] = min(kw["theta_up_l"], base.theta_up_h - 1e-3)
    return base._replace(**kw)


def _draw(rng: random.Random) -> list[float]:
    return [math.exp(rng.uniform(math.log(lo), math.log(hi))) if log else rng.uniform(lo, hi)
            for _, lo, hi, log in FIT_BOUNDS]


def fit(n_random: int = 150, n_refine: int = 3, w_bipoo: float = 1.0, seed: int = 0,
        base: CalciumBistableParameters | None = None, log: Any = None) -> dict[str, Any]:
    """Random search then coordinate refinement (each coordinate x {0.7, 0.85, 1.15, 1.3} or
    ± 10 % of its range); returns the best parameters and their evaluation."""
    base = base or CalciumBistableParameters()
    rng = random.Random(seed)
    best_vec, best = None, math.inf
    for i in range(n_random):
        vec = _draw(rng)
        val = loss(evaluate(_params(vec, base)), w_bipoo)
        if val < best:
            best_vec, best = vec, val
            if log:
                log(f"random {i}: loss {val:.3f}")
    for sweep in range(n_refine):
        for j, (_, lo, hi, lg) in enumerate(FIT_BOUNDS):
            steps = [best_vec[j] * f for f in (0.7, 0.85, 1.15, 1.3)] if lg else \
                [best_vec[j] + f * (hi - lo) for f in (-0.1, -0.05, 0.05, 0.1)]
            for v in steps:
                vec = list(best_vec)
                vec[j] = min(max(v, lo), hi)
                val = loss(evaluate(_params(vec, base)), w_bipoo)
                if val < best:
                    best_vec, best = vec, val
        if log:
            log(f"refine {sweep}: loss {best:.3f}")
    p = _params(best_vec, base)
    return {"params": p._asdict(), "loss": best, "w_bipoo": w_bipoo, "seed": seed,
            "n_random": n_random, "n_refine": n_refine, **evaluate(p)}


def record_protocol(p: CalciumBistableParameters, dt_ms: float = 10.0, n_pairs: int = 5,
                    freq_hz: float = 20.0) -> dict[str, Any]:
    """Traces and X step by step on the engine (one synapse, X0 = 0.5) during ``n_pairs``
    pairings at ``freq_hz`` with Δt = ``dt_ms``; for :func:`hebbtorch.viz.calcium`."""
    from hebbtorch.plasticity import PlasticConnection
    from hebbtorch.studies.protocols import times_to_train

    pre_t, post_t = pairing_times([dt_ms], n_pairs, freq_hz, t0=50.0)
    pre = times_to_train(pre_t)
    post = times_to_train(post_t, n_steps=pre.shape[0])
    T = max(pre.shape[0], post.shape[0]) + 150
    pad = torch.zeros(T, 1, 1)
    pre_full, post_full = pad.clone(), pad.clone()
    pre_full[: pre.shape[0]], post_full[: post.shape[0]] = pre, post
    conn = PlasticConnection(1, 1, CalciumBistable(p), w_init=0.5, bounds=None)
    rec: dict[str, list[float]] = {"t_ms": [], "x_pre": [], "C": [], "y": [], "X": []}
    for t in range(T):
        conn.step(pre_full[t], post_full[t])
        st = conn.state
        for k, v in (("t_ms", float(t)), ("x_pre", float(st.pre[0])), ("C", float(st.post[0])),
                     ("y", float(st.post[1])), ("X", float(st.rule.X))):
            rec[k].append(v)
    return {**rec, "params": p._asdict(), "pre_ms": pre_t[0].tolist(),
            "post_ms": post_t[0].tolist(),
            "title": f"{n_pairs} pairings at {freq_hz:g} Hz, Δt = {dt_ms:+g} ms"}
