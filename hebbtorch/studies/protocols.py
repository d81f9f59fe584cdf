"""Classic plasticity protocols, each batched into one simulation.

Every condition (each Δt, frequency, rate, repetition) is one entry of the batch dim of a
``[batch, 1, 1]`` synapse; pre and post spike trains are imposed (no neuron model), as in the
modelling papers. Each protocol returns a JSON-ready dict.

Rules by name: ``pair`` (:class:`PairSTDP`), ``triplet`` (:class:`TripletSTDP`, visual-cortex
all-to-all full set by default), ``gb`` (Graupner & Brunel; exact event-driven calcium + the
paper's analytic readout, "DP" set by default), ``calcium`` (:class:`CalciumHebbian`) and
``calcium-bistable`` (:class:`CalciumBistable`, fitted ``sjostrom`` set by default), and any
other registered rule (``astdp``: aSTDP's pair window at pair STDP's potentiation scale).
Trace rules run on the engine with dt = 1 ms (Δt on a 1 ms grid) and start at w = 1, no
bounds, so Δw is the relative change the experiments report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity import (
    CalciumHebbian,
    GraupnerBrunel,
    PairSTDP,
    PairSTDPParameters,
    PlasticConnection,
    PlasticityRule,
    calcium_time_above,
    gb_synaptic_change,
    registry,
)
from hebbtorch.plasticity.batched import entry_generator, run_trains, split_batch
from hebbtorch.plasticity.rules.calcium_bistable import CalciumBistable
from hebbtorch.plasticity.rules.gb import GraupnerBrunelParameters
from hebbtorch.studies.stdp_data import BI_POO_1998, SJOSTROM_2001, WANG_2005

DT_MS = 1.0
CHUNK = 512  # Poisson conditions simulated at once (a few MB each for the default durations)

# Pair STDP amplitudes for the protocols: the Bi & Poo time constants with amplitudes such that
# 60 pairs at ±10 ms give about +/-30 % (a visual-cortex-like scale, for comparison only).
PAIR_PROTOCOL_PARAMS = PairSTDPParameters(tau_plus=16.8, tau_minus=33.7, A_plus=0.0081,
                                          A_minus=0.007)


def make_rule(rule: str, params: str | None = None) -> PlasticityRule | GraupnerBrunelParameters:
    """A rule object by its registry name (:mod:`hebbtorch.plasticity.registry`); ``params``
    picks a published set: triplet ``DATA/INTERACTION/MODEL`` (e.g.
    ``visual_cortex/all_to_all/full``), gb ``DP``/``cortical_slices``/..., pair ``all_to_all``/
    ``nearest``. Pair STDP takes the protocol amplitudes (:data:`PAIR_PROTOCOL_PARAMS`), other
    pair windows (``astdp``) their shape scaled to its A_plus; gb is
    returned as its parameters (the protocols read it out analytically, :func:`run_gb`)."""
    r = registry.make(rule, params)
    if isinstance(r, CalciumBistable):  # X = 0.5 at w = 1: Δw = 2 ΔX, in [-1, 1]
        return CalciumBistable(r.params, efficacy=r.mode, w_lo=0.0, w_hi=2.0)
    if isinstance(r, PairSTDP) and rule == "pair":
        return PairSTDP(PAIR_PROTOCOL_PARAMS._replace(interaction=r.params.interaction))
    if isinstance(r, PairSTDP):  # another pair window (astdp): its shape at the same LTP scale
        k = PAIR_PROTOCOL_PARAMS.A_plus / r.params.A_plus
        return PairSTDP(r.params._replace(A_plus=r.params.A_plus * k,
                                          A_minus=r.params.A_minus * k))
    if isinstance(r, GraupnerBrunel):
        return r.params
    return r


# ----------------------------------------------------------------------- spike trains
def pad_times(rows: list[list[float]]) -> torch.Tensor:
    """Ragged spike-time lists (ms) -> ``[batch, n]`` float64 padded with inf."""
    n = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), max(n, 1)), math.inf, dtype=torch.float64)
    for i, r in enumerate(rows):
        if r:
            out[i, : len(r)] = torch.tensor(sorted(r), dtype=torch.float64)
    return out


def times_to_train(times: torch.Tensor, dt: float = DT_MS, n_steps: int | None = None
                   ) -> torch.Tensor:
    """Spike times ``[batch, n]`` (ms, inf = none) -> dense train ``[time, batch, 1]``."""
    finite = torch.isfinite(times)
    idx = torch.where(finite, torch.round(times / dt), torch.zeros_like(times)).long()
    if bool((idx[finite] < 0).any()):
        raise HebbtorchError("spike times must be >= 0 ms")
    T = int(idx[finite].max()) + 2 if bool(finite.any()) else 1
    T = max(T, n_steps or 0)
    train = torch.zeros(T, times.shape[0], 1)
    b = torch.arange(times.shape[0])[:, None].expand_as(idx)
    train[idx[finite], b[finite], 0] = 1.0
    return train


def train_to_times(train: torch.Tensor, dt: float = DT_MS) -> torch.Tensor:
    """Dense train ``[time, batch, 1]`` -> padded times ``[batch, n]`` (ms)."""
    t_idx, b_idx = torch.nonzero(train[..., 0] > 0, as_tuple=True)
    rows: list[list[float]] = [[] for _ in range(train.shape[1])]
    for t, b in zip((t_idx.double() * dt).tolist(), b_idx.tolist(), strict=True):
        rows[b].append(t)
    return pad_times(rows)


def pairing_times(
    dts: list[float], n_pairs: int, freq_hz: float, *, pairs_per_burst: int | None = None,
    burst_period_ms: float = 10_000.0, t0: float = 200.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre/post times for ``n_pairs`` pairings at ``freq_hz`` with Δt = t_post - t_pre (ms), one
    batch row per Δt. With ``pairs_per_burst`` the pairings come in bursts starting every
    ``burst_period_ms`` (Sjöström 2001: 5 pairings, 15 bursts, 10 s) -- or back to back when a
    burst is longer than that period."""
    check_range("freq_hz", freq_hz, 0.0, low_open=True)
    if n_pairs <= 0:
        raise HebbtorchError(f"n_pairs must be positive, got {n_pairs}")
    period = 1000.0 / freq_hz
    k = torch.arange(n_pairs, dtype=torch.float64)
    if pairs_per_burst:
        spacing = max(burst_period_ms, pairs_per_burst * period)
        onset = (k // pairs_per_burst) * spacing + (k % pairs_per_burst) * period
    else:
        onset = k * period
    d = torch.as_tensor(dts, dtype=torch.float64)[:, None]
    pre = t0 + onset[None, :] + (-d).clamp_min(0)
    post = pre + d
    return pre, post


# ---------------------------------------------------------------------------- runners
def run_trace_rule(rule: PlasticityRule, pre_times: torch.Tensor, post_times: torch.Tensor,
                   dt: float = DT_MS, w0: float = 1.0) -> torch.Tensor:
    """Δw ``[batch]`` of a trace rule driven by the given spike times (one synapse per row)."""
    pre = times_to_train(pre_times, dt)
    post = times_to_train(post_times, dt, pre.shape[0])
    pre = torch.cat([pre, torch.zeros(post.shape[0] - pre.shape[0], *pre.shape[1:])], 0)
    conn = PlasticConnection(1, 1, rule, batch=pre.shape[1], dt=dt, w_init=w0, bounds=None)
    conn.run(pre, post)
    return conn.weight.detach()[:, 0, 0].double() - w0


def run_gb(p: GraupnerBrunelParameters, pre_times: torch.Tensor, post_times: torch.Tensor
           ) -> torch.Tensor:
    """Relative change (ratio - 1) from exact calcium + Graupner-Brunel's analytic readout."""
    t_p, t_d = calcium_time_above(pre_times, post_times, p)
    return gb_synaptic_change(t_p, t_d, p) - 1.0


def run_rule(rule: str, params: str | None, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
    r = make_rule(rule, params)
    if isinstance(r, GraupnerBrunelParameters):
        return run_gb(r, pre, post)
    return run_trace_rule(r, pre, post)


def _base(name: str, rule: str, params: str | None) -> dict[str, Any]:
    return {"protocol": name, "rule": rule, "params": params}


def on_grid(rule: str, times: list[float]) -> list[float]:
    """Intervals (ms) as the rule can realise them: trace rules run on the DT_MS grid (nearest
    grid point, half away from zero), ``gb`` integrates calcium exactly at any time."""
    if rule == "gb":
        return [float(t) for t in times]
    return [math.copysign(math.floor(abs(t) / DT_MS + 0.5) * DT_MS, t) for t in times]


def data_errors(model: list[float], data: list[float], sem: list[float] | None = None
                ) -> dict[str, float]:
    """RMSE of the model against published points; with SEMs also Pfister & Gerstner's (2006)
    normalised error E = mean(((data - model) / SEM)^2); ``rmse_zero_model``: the RMSE of
    predicting no change, the baseline a model has to beat."""
    err = [m - d for m, d in zip(model, data, strict=True)]
    out = {"rmse_vs_data": math.sqrt(sum(e * e for e in err) / len(err)),
           "rmse_zero_model": math.sqrt(sum(d * d for d in data) / len(data)),
           "n_points": len(data)}
    if sem is not None:
        out["nmse_vs_data"] = sum((e / s) ** 2 for e, s in zip(err, sem, strict=True)) / len(err)
    return out


# -------------------------------------------------------------------------- protocols
def pairing_window(rule: str = "pair", params: str | None = None, *,
                   dts: list[float] | None = None, n_pairs: int = 60, freq_hz: float = 1.0
                   ) -> dict[str, Any]:
    """STDP window: ``n_pairs`` pairings at ``freq_hz`` (Bi & Poo 1998: 60 at 1 Hz), Δt swept
    over ±100 ms, all Δt in one batched run. Adds the analytic curve n_pairs * W(Δt) for rules
    that have one (valid when pairs do not interact, i.e. period >> taus). With Bi & Poo's
    protocol (60 pairs, 1 Hz) the model is also run at the Δt of the 42 digitised Bi & Poo
    points (:data:`BI_POO_1998`; on the 1 ms grid for trace rules) and its error reported."""
    dts = list(range(-100, 101, 5)) if dts is None else [float(d) for d in dts]
    bi_poo = n_pairs == 60 and freq_hz == 1.0
    data_dts = on_grid(rule, BI_POO_1998["dt_ms"]) if bi_poo else []
    pre, post = pairing_times(dts + data_dts, n_pairs, freq_hz)
    dw = run_rule(rule, params, pre, post).tolist()
    out = _base("window", rule, params) | {
        "n_pairs": n_pairs, "freq_hz": freq_hz, "dt_ms": dts, "dw": dw[:len(dts)],
        "data": BI_POO_1998 if bi_poo else None,
    }
    if bi_poo:
        model = dw[len(dts):]
        out["model_at_data"] = {"dt_ms": data_dts, "dw": model}
        out |= data_errors(model, BI_POO_1998["dw"])
    r = make_rule(rule, params)
    if hasattr(r, "window"):
        out["analytic"] = (n_pairs * r.window(torch.tensor(dts, dtype=torch.float64))).tolist()
    return out


def frequency_dependence(rule: str = "triplet", params: str | None = None, *,
                         freqs: list[float] | None = None, n_pairs: int | None = None,
                         sjostrom_bursts: bool | None = None) -> dict[str, Any]:
    """Sjöström 2001: pairings at Δt = +10 and -10 ms for 0.1-50 Hz, batched (2 x frequencies).
    Default protocol: Pfister & Gerstner's 60 pairings for trace rules; Sjöström's 15 bursts of
    5 (75 pairings) for ``gb``, as its cortical-slice set was fitted to. Reports the RMSE
    against the published points (at the data frequencies)."""
    freqs = [0.1, 1, 5, 10, 15, 20, 30, 40, 50] if freqs is None else [float(f) for f in freqs]
    allf = sorted(set(freqs) | set(SJOSTROM_2001["freq_hz"]))
    bursts = (rule == "gb") if sjostrom_bursts is None else sjostrom_bursts
    n = n_pairs or (75 if bursts else 60)
    pres, posts = [], []
    for f in allf:
        pr, po = pairing_times([10.0, -10.0], n, f, pairs_per_burst=5 if bursts else None)
        pres.append(pr)
        posts.append(po)
    dw = run_rule(rule, params, torch.cat(pres), torch.cat(posts)).view(len(allf), 2)
    plus = dict(zip(allf, dw[:, 0].tolist(), strict=True))
    minus = dict(zip(allf, dw[:, 1].tolist(), strict=True))
    d = SJOSTROM_2001
    at_data = {"plus10": [plus[f] for f in d["freq_hz"]],
               "minus10": [minus[f] for f in d["freq_hz"]]}
    return _base("frequency", rule, params) | {
        "n_pairs": n, "bursts": bursts, "freq_hz": freqs,
        "dw_plus10": [plus[f] for f in freqs], "dw_minus10": [minus[f] for f in freqs],
        "data": d, "model_at_data_freqs": at_data,
    } | data_errors(at_data["plus10"] + at_data["minus10"], d["dw_plus10"] + d["dw_minus10"],
                    d["sem_plus10"] + d["sem_minus10"])


# Wang et al. 2005's conditions: pairs (Δt = t_post - t_pre) and triplets (Δt1, Δt2)
PAIRS: list[float] = WANG_2005["pair"]["dt_ms"]
TRIPLETS_PRE_POST_PRE: list[tuple[float, float]] = WANG_2005["pre_post_pre"]["dts"]
TRIPLETS_POST_PRE_POST: list[tuple[float, float]] = WANG_2005["post_pre_post"]["dts"]


def triplets_quadruplets(rule: str = "triplet", params: str | None = "hippocampal/all_to_all/full",
                         *, n_reps: int = 60, freq_hz: float = 1.0,
                         quad_T: list[float] | None = None) -> dict[str, Any]:
    """Wang et al. 2005 protocols as used by Pfister & Gerstner 2006 (60 repetitions at 1 Hz):
    pairs at ±10 ms, pre-post-pre triplets (Δt1 = t_post - t_pre1 > 0, Δt2 = t_post - t_pre2
    < 0), post-pre-post triplets (Δt1 = t_post1 - t_pre < 0, Δt2 = t_post2 - t_pre > 0) and
    quadruplets: a post-pre pair (Δt = -5 ms) and a pre-post pair (+5 ms) whose onsets are T ms
    apart (T > 0: post-pre first; T < 0: pre-post first). All conditions in one batch. With
    Wang's protocol (60 at 1 Hz) the 13 published points (:data:`WANG_2005`, quadruplet T on
    the 1 ms grid for trace rules) are simulated too and the RMSE and Pfister & Gerstner's
    normalised error E reported."""
    quad_T = [-100, -80, -60, -40, -20, -10, 10, 20, 40, 60, 80, 100] if quad_T is None else quad_T
    wang = n_reps == 60 and freq_hz == 1.0
    data_T = on_grid(rule, WANG_2005["quadruplet"]["T_ms"]) if wang else []
    period = 1000.0 / freq_hz
    pre_rows: list[list[float]] = []
    post_rows: list[list[float]] = []
    t0 = 200.0

    def add(pre_rel: list[float], post_rel: list[float]) -> None:
        pre_rows.append([t0 + k * period + x for k in range(n_reps) for x in pre_rel])
        post_rows.append([t0 + k * period + x for k in range(n_reps) for x in post_rel])

    for d in PAIRS:  # pre at 20 ms, post at 20 + d
        add([20.0], [20.0 + d])
    for d1, d2 in TRIPLETS_PRE_POST_PRE:  # pre1 at 0, post at d1, pre2 at d1 - d2
        add([0.0, d1 - d2], [d1])
    for d1, d2 in TRIPLETS_POST_PRE_POST:  # pre at 20 ms, posts at 20 + d1, 20 + d2
        add([20.0], [20.0 + d1, 20.0 + d2])
    for T in [*quad_T, *data_T]:
        a, b = (0.0, abs(T))
        if T > 0:  # post-pre (post at a, pre at a+5) then pre-post (pre at b, post at b+5)
            add([a + 5, b], [a, b + 5])
        else:  # pre-post first, then post-pre
            add([a, b + 5], [a + 5, b])
    dw = run_rule(rule, params, pad_times(pre_rows), pad_times(post_rows)).tolist()
    n0, n1, n2 = len(PAIRS), len(TRIPLETS_PRE_POST_PRE), len(TRIPLETS_POST_PRE_POST)
    k, nq = n0 + n1 + n2, len(quad_T)
    out = _base("triplets", rule, params) | {
        "n_reps": n_reps, "freq_hz": freq_hz,
        "pair": {"dt_ms": PAIRS, "dw": dw[:n0]},
        "pre_post_pre": {"dts": TRIPLETS_PRE_POST_PRE, "dw": dw[n0:n0 + n1]},
        "post_pre_post": {"dts": TRIPLETS_POST_PRE_POST, "dw": dw[n0 + n1:k]},
        "quadruplet": {"T_ms": list(quad_T), "dw": dw[k:k + nq]},
        "data": WANG_2005 if wang else None,
    }
    if wang:
        groups = ("pair", "pre_post_pre", "post_pre_post")
        model = [v for g in groups for v in out[g]["dw"]] + dw[k + nq:]
        d = WANG_2005
        data = [v for g in (*groups, "quadruplet") for v in d[g]["dw"]]
        sem = [v for g in (*groups, "quadruplet") for v in d[g]["sem"]]
        out["model_at_data"] = {"quadruplet_T_ms": data_T, "quadruplet_dw": dw[k + nq:]}
        out |= data_errors(model, data, sem)
    return out


def poisson_pairs(post_rates: list[float], pre_rate: float, duration_s: float, reps: int,
                  correlation: float, lag_ms: float, generator: torch.Generator,
                  dt: float = DT_MS) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense Poisson trains ``[time, rates*reps, 1]``. With ``correlation`` c > 0 a fraction c of
    the post spikes (capped by the pre rate) are copies of pre spikes ``lag_ms`` later; the
    rest are independent, so mean rates are the same as without correlation."""
    check_range("correlation", correlation, 0.0, 1.0)
    T = int(round(duration_s * 1000.0 / dt))
    rates = torch.tensor(post_rates, dtype=torch.float32).repeat_interleave(reps)
    B = rates.numel()
    pre = (torch.rand(T, B, generator=generator) < pre_rate * dt / 1000.0).float()
    copy_rate = torch.clamp(correlation * rates, max=pre_rate)
    p_copy = copy_rate / pre_rate if pre_rate > 0 else torch.zeros_like(rates)
    lag = int(round(lag_ms / dt))
    shifted = torch.zeros_like(pre)
    shifted[lag:] = pre[: T - lag] if lag else pre
    copied = shifted * (torch.rand(T, B, generator=generator) < p_copy).float()
    indep = (torch.rand(T, B, generator=generator) < (rates - copy_rate) * dt / 1000.0).float()
    post = torch.clamp(copied + indep, max=1.0)
    return pre.unsqueeze(-1), post.unsqueeze(-1)


def chunked(simulate: Callable[[torch.Tensor], torch.Tensor], size: int = CHUNK,
            desc: str | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """``simulate`` run on at most ``size`` conditions at a time (with a progress bar when there
    are several chunks): memory stays bounded for any number of repetitions, and the results
    are the same, as each condition draws from its own generator."""
    def run(idx: torch.Tensor) -> torch.Tensor:
        if len(idx) <= size:
            return simulate(idx)
        parts = [simulate(idx[i:i + size])
                 for i in tqdm(range(0, len(idx), size), desc=desc, unit="chunk", leave=False)]
        return torch.cat(parts)
    return run


def poisson_repetitions(post_rates: list[float], reps: int, idx: torch.Tensor, pre_rate: float,
                        duration_s: float, correlation: float, lag_ms: float, seed: int,
                        stream: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`poisson_pairs` trains ``[time, len(idx), 1]`` for the conditions ``idx`` (k = rate
    index * ``reps`` + repetition), each drawn from its own generator ``(seed, stream, k)``, so a
    condition's trains do not depend on which others are drawn with it -- or by which process
    (:mod:`hebbtorch.plasticity.batched`)."""
    pairs = [poisson_pairs([post_rates[k // reps]], pre_rate, duration_s, 1, correlation, lag_ms,
                           entry_generator(seed, stream, k)) for k in idx.tolist()]
    return torch.cat([p for p, _ in pairs], 1), torch.cat([q for _, q in pairs], 1)


def rate_dependence(rule: str = "calcium", params: str | None = None, *,
                    post_rates: list[float] | None = None, pre_rate: float = 10.0,
                    duration_s: float = 10.0, reps: int = 10, correlation: float = 0.5,
                    lag_ms: float = 5.0, seed: int = 0) -> dict[str, Any]:
    """Rate protocol: Poisson pre (``pre_rate``) and post at swept rates, independent and with a
    fraction ``correlation`` of post spikes following pre spikes by ``lag_ms``; mean rates are
    equal in both (the correlated run is skipped when ``correlation`` is 0). Returns the mean
    drift Δw/s (and SEM over ``reps``) per post rate. Under a process group the rates x
    repetitions are split across ranks, with the same result as one process."""
    post_rates = [1, 2, 5, 10, 15, 20, 30, 40, 50] if post_rates is None else post_rates
    out = _base("rate", rule, params) | {
        "pre_rate_hz": pre_rate, "post_rate_hz": list(post_rates), "duration_s": duration_s,
        "reps": reps, "correlation": correlation, "lag_ms": lag_ms,
    }
    variants = [("uncorrelated", 0.0)] + ([("correlated", correlation)] if correlation > 0 else [])
    for stream, (name, c) in enumerate(variants):
        def simulate(idx: torch.Tensor, c: float = c, stream: int = stream) -> torch.Tensor:
            pre, post = poisson_repetitions(post_rates, reps, idx, pre_rate, duration_s, c,
                                            lag_ms, seed, stream)
            r = make_rule(rule, params)
            if isinstance(r, GraupnerBrunelParameters):
                dw = run_gb(r, train_to_times(pre), train_to_times(post))
            else:
                w = run_trains(r, pre, post, dt=DT_MS, w_init=1.0, bounds=None)
                dw = w[-1, :, 0, 0].double() - 1.0
            return torch.stack([dw, post.sum((0, 2)).double()], 1)  # Δw, post spike count

        res = split_batch(chunked(simulate, desc=f"rate {rule} {name}"),
                          len(post_rates) * reps).view(len(post_rates), reps, 2)
        dw = res[..., 0] / duration_s
        out[name] = {"drift_per_s": dw.mean(1).tolist(),
                     "sem": (dw.std(1) / math.sqrt(reps)).tolist() if reps > 1 else None,
                     "measured_post_rate_hz": (res[..., 1].mean(1) / duration_s).tolist()}
    return out


def learning_speed(*, rate_hz: float = 10.0, correlation: float = 0.5, lag_ms: float = 5.0,
                   duration_s: float = 20.0, reps: int = 20, w_init: float = 0.5,
                   seed: int = 0) -> dict[str, Any]:
    """Calcium-trace rule with soft bounds [0, 1]: weight trajectories for independent vs
    correlated pre/post Poisson spiking at the *same* mean rates. Learning speed = mean |w(T) -
    w(0)| and the time to move half-way to the final weight of the correlated run. Under a
    process group the repetitions are split across ranks, with the same result as one process."""
    from hebbtorch.plasticity import WeightBounds

    every = int(1000 / DT_MS)  # record once per simulated second
    res: dict[str, Any] = {"protocol": "learning_speed", "rule": "calcium", "rate_hz": rate_hz,
                           "correlation": correlation, "lag_ms": lag_ms, "reps": reps}
    for stream, (name, c) in enumerate((("uncorrelated", 0.0), ("correlated", correlation))):
        def simulate(idx: torch.Tensor, c: float = c, stream: int = stream) -> torch.Tensor:
            pre, post = poisson_repetitions([rate_hz], reps, idx, rate_hz, duration_s, c, lag_ms,
                                            seed, stream)
            w = run_trains(CalciumHebbian(), pre, post, chunk=every, dt=DT_MS, w_init=w_init,
                           bounds=WeightBounds(0.0, 1.0, "multiplicative"))
            # per repetition: w after each second, then pre and post spike counts
            return torch.cat([w[:, :, 0, 0].T, pre.sum(0), post.sum(0)], 1)

        out = split_batch(chunked(simulate, desc=f"speed {name}"), reps)
        traj, w_end = out[:, :-2], out[:, -3]
        res[name] = {"w_mean_per_s": [w_init, *traj.mean(0).tolist()], "w_final": w_end.tolist(),
                     "mean_abs_change": float((w_end - w_init).abs().mean()),
                     "post_rate_hz": float(out[:, -1].sum() / reps / duration_s),
                     "pre_rate_hz": float(out[:, -2].sum() / reps / duration_s)}
    return res


PROTOCOLS = {
    "window": pairing_window,
    "frequency": frequency_dependence,
    "triplets": triplets_quadruplets,
    "rate": rate_dependence,
    "speed": learning_speed,
}
