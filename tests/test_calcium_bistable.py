"""Calcium-bistable rule (Brader, Senn & Fusi 2007 / Girão, Risi & Chicca 2025): traces,
stop-learning windows, bistable drift, the fitted sets against published data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity import PlasticConnection
from hebbtorch.plasticity.rules.calcium_bistable import (
    CalciumBistable,
    CalciumBistableParameters,
    bistable_drift,
    calcium_bistable_parameters,
)
from hebbtorch.studies.calcium_fit import evaluate, event_run
from hebbtorch.studies.protocols import pairing_times, run_trace_rule

OPEN = CalciumBistableParameters(a=0.01, b=0.01)  # both windows open, no drift


def run(rule, pre, post, w0=0.5, batch=1):
    conn = PlasticConnection(1, 1, rule, batch=batch, w_init=w0, bounds=None)
    conn.run(pre, post)
    return conn


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 199), max_size=80), st.lists(st.integers(0, 199), max_size=80))
def test_calcium_traces_stay_in_unit_interval(pre_t, post_t):
    pre, post = torch.zeros(200, 1, 1), torch.zeros(200, 1, 1)
    pre[pre_t], post[post_t] = 1.0, 1.0
    p = OPEN._replace(J_pre=1.0, J_C=1.0, J_y=1.0)
    conn = run(CalciumBistable(p), pre, post)
    for tr in (*conn.state.pre, *conn.state.post):
        assert 0.0 <= float(tr.min()) and float(tr.max()) <= 1.0
    assert 0.0 <= float(conn.state.rule.X.min()) and float(conn.state.rule.X.max()) <= 1.0


def test_isolated_pairs_follow_the_analytic_window():
    dts = [-40.0, -10.0, -3.0, 3.0, 10.0, 40.0]
    rule = CalciumBistable(OPEN)
    pre, post = pairing_times(dts, 5, 1.0)  # 1 s apart: pairs do not interact (taus <= 100 ms)
    dw = run_trace_rule(rule, pre, post, w0=0.5)
    want = 5 * rule.ungated_window(torch.tensor(dts, dtype=torch.float64))
    # small deviation only from the post calcium left by the previous pairing (exp(-10) ~ 5e-5)
    assert np.allclose(dw.numpy(), want.numpy(), rtol=2e-3, atol=1e-6)


def test_stop_learning_windows_gate_ltp_and_ltd():
    # a post burst at 200 Hz drives C above theta_up_h: later pre-post pairs do not potentiate
    p = OPEN._replace(J_C=0.5, theta_up_h=0.6, theta_down_h=0.3)
    pre, post = torch.zeros(60, 1, 1), torch.zeros(60, 1, 1)
    post[[10, 15, 20, 25], 0, 0] = 1.0  # C after 4 spikes ~ 0.9 > 0.6
    pre[28, 0, 0] = 1.0  # post-before-pre with C > theta_down_h: no LTD either
    post[30, 0, 0] = 1.0  # pre-before-post with C > theta_up_h: no LTP
    conn = run(CalciumBistable(p), pre, post)
    assert float(conn.weight) == pytest.approx(0.5, abs=1e-7)
    # the same spikes with windows open change the weight both ways
    conn = run(CalciumBistable(OPEN._replace(J_C=0.5)), pre, post)
    assert abs(float(conn.weight) - 0.5) > 1e-3


def test_bistable_drift_between_events_is_exact():
    p = OPEN._replace(a=0.0, b=0.0, alpha=0.5, beta=0.25)  # 1/s
    pre = torch.zeros(1001, 2, 1)
    pre[0], pre[1000] = 1.0, 1.0  # two pre spikes 1 s apart, no post spike: only drift
    conn = PlasticConnection(1, 1, CalciumBistable(p), batch=2, bounds=None,
                             w_init=torch.tensor([0.6, 0.4]).view(2, 1, 1))
    conn.run(pre, torch.zeros(1001, 2, 1))
    # X > theta_X drifts up by alpha * 1 s (clipped at 1), X < theta_X down by beta * 1 s
    assert conn.weight.flatten().tolist() == pytest.approx([1.0, 0.15], abs=2e-4)
    x = torch.tensor([0.55, 0.45])
    assert bistable_drift(x, p, 100.0).tolist() == pytest.approx([0.6, 0.425])


def test_binary_efficacy_takes_two_values():
    pre, post = torch.zeros(700, 2, 1), torch.zeros(700, 2, 1)
    pre[0:600:50, 0], post[5:600:50, 0] = 1.0, 1.0  # pre-post pairs at 20 Hz: X climbs
    pre[0:600:50, 1] = 1.0  # pre alone: nothing changes
    rule = CalciumBistable(OPEN._replace(a=0.5), efficacy="binary", w_lo=0.2, w_hi=1.0)
    conn = PlasticConnection(1, 1, rule, batch=2, w_init=0.2, bounds=None)
    conn.run(pre, post)
    assert conn.weight.flatten().tolist() == pytest.approx([1.0, 0.2])  # UP / still DOWN
    assert 0.5 < float(conn.state.rule.X[0]) < 1.0  # X analog, efficacy binary


def test_event_run_matches_the_engine():
    p = calcium_bistable_parameters("sjostrom_bipoo")
    pre, post = pairing_times([-20.0, -5.0, 5.0, 20.0], 40, 20.0)
    eng = run_trace_rule(CalciumBistable(p, w_lo=0.0, w_hi=2.0), pre, post)
    ev = event_run(p, pre, post)
    assert np.allclose(ev.numpy(), eng.numpy(), atol=2e-5)


@pytest.mark.parametrize("name, within, rmse, bipoo", [
    ("sjostrom", 8, 0.14, 0.48), ("sjostrom_bipoo", 7, 0.18, 0.40), ("bipoo", 4, 0.22, 0.27)])
def test_fitted_sets_against_published_data(name, within, rmse, bipoo):
    r = evaluate(calcium_bistable_parameters(name), engine=True)
    s, b = r["sjostrom"], r["bi_poo"]
    assert s["within_sem"] >= within  # of Sjöström et al. 2001's 10 points, within one SEM
    assert s["rmse_vs_data"] < rmse
    assert b["rmse_vs_data"] < bipoo
    # the frequency effect itself: -10 ms turns from LTD at 0.1 Hz to LTP at 50 Hz
    assert s["dw_minus10"][0] < -0.1 and s["dw_minus10"][-1] > 0.3


def test_bad_parameters_raise_one_line_errors():
    with pytest.raises(HebbtorchError, match="theta_up_l"):
        CalciumBistable(OPEN._replace(theta_up_l=0.5, theta_up_h=0.4))
    with pytest.raises(HebbtorchError, match="efficacy"):
        CalciumBistable(OPEN, efficacy="ternary")
    with pytest.raises(HebbtorchError, match="J_C"):
        CalciumBistable(OPEN._replace(J_C=1.5))
    with pytest.raises(HebbtorchError, match="unknown calcium-bistable set"):
        calcium_bistable_parameters("nope")
    assert math.isfinite(OPEN.tau_Ca)


def test_sjostrom_set_rate_protocol_is_bcm_like():
    from hebbtorch.studies.protocols import rate_dependence

    r = rate_dependence("calcium-bistable", "sjostrom", post_rates=[5, 10, 40, 50],
                        duration_s=10, reps=4, correlation=0.0)
    d, s = r["uncorrelated"]["drift_per_s"], r["uncorrelated"]["sem"]
    # measured (5 reps, docs/calcium.md): -0.008, -0.008, +0.090, +0.095 per s
    assert d[0] + 2 * s[0] < 0 and d[1] + 2 * s[1] < 0  # LTD at low post rates
    assert d[2] - 2 * s[2] > 0 and d[3] - 2 * s[3] > 0  # LTP at high post rates
