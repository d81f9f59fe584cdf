"""Plasticity protocols against published data and against what each rule should (not) do."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hebbtorch.cli.main import main
from hebbtorch.errors import HebbtorchError
from hebbtorch.experiments.protocols import (
    frequency_dependence,
    learning_speed,
    pairing_window,
    rate_dependence,
    triplets_quadruplets,
)


def test_pair_window_protocol_matches_analytic_curve():
    r = pairing_window("pair", dts=list(range(-100, 101, 10)), n_pairs=60, freq_hz=1.0)
    # 60 pairs at 1 Hz do not interact (period >> taus): 60 x the single-pair window
    assert np.allclose(r["dw"], r["analytic"], atol=1e-5)


def test_gb_dp_depresses_for_small_negative_and_potentiates_for_positive_dt():
    r = pairing_window("gb", "DP", dts=[-30, -20, -10, 5, 10, 20, 30])
    dw = dict(zip(r["dt_ms"], r["dw"], strict=True))
    assert all(dw[d] < -0.05 for d in (-30, -20, -10))
    assert all(dw[d] > 0.05 for d in (5, 10, 20, 30))


def test_gb_cortical_slices_follow_sjostrom_frequency_data():
    r = frequency_dependence("gb", "cortical_slices")
    assert r["rmse_vs_data"] < 0.11  # measured 0.095 (docs/plasticity.md)
    m = r["model_at_data_freqs"]
    assert m["minus10"][0] < -0.2 and m["minus10"][-1] > 0.3  # LTD at 0.1 Hz, LTP at 50 Hz
    assert m["plus10"][-1] > m["plus10"][0] + 0.3  # +10 ms LTP grows with frequency


def test_triplet_reproduces_frequency_dependence_that_pair_stdp_cannot():
    freqs = [0.1, 5, 10, 20, 30, 40, 50]
    pair = frequency_dependence("pair", freqs=freqs)
    trip = frequency_dependence("triplet", freqs=freqs)  # visual cortex, all-to-all, full
    # pair STDP: Δw(+10) - Δw(-10) is flat while pairings barely overlap (<= 10 Hz) ...
    diff = np.array(pair["dw_plus10"]) - np.array(pair["dw_minus10"])
    assert np.ptp(diff[:3]) < 0.05 * abs(diff[0])
    # ... and +10 ms potentiation never grows with frequency, -10 ms never turns into LTP
    assert max(pair["dw_plus10"]) <= pair["dw_plus10"][0] + 1e-6
    assert max(pair["dw_minus10"]) < 0
    # triplet: +10 ms potentiation grows monotonically, -10 ms flips from LTD to LTP
    assert np.all(np.diff(trip["dw_plus10"]) > 0)
    assert trip["dw_minus10"][0] < -0.2 and trip["dw_minus10"][-1] > 0.3
    assert trip["rmse_vs_data"] < 0.16 < pair["rmse_vs_data"]  # measured 0.144 vs 0.570


def test_triplet_hippocampal_post_pre_post_beats_pre_post_pre():
    r = triplets_quadruplets("triplet", quad_T=[-20, 20])
    # Wang et al. 2005's asymmetry, the triplet model's headline result
    assert np.mean(r["post_pre_post"]["dw"]) > np.mean(r["pre_post_pre"]["dw"]) + 0.1
    assert len(r["quadruplet"]["dw"]) == 2


def test_calcium_rule_rate_dependence_is_bcm_like():
    r = rate_dependence("calcium", post_rates=[5, 50], pre_rate=10, duration_s=10, reps=8,
                        correlation=0.0)
    drift, sem = r["uncorrelated"]["drift_per_s"], r["uncorrelated"]["sem"]
    assert drift[0] + 2 * sem[0] < 0 < drift[1] - 2 * sem[1]  # LTD at 5 Hz, LTP at 50 Hz


def test_correlated_input_speeds_up_learning_at_equal_rates():
    r = learning_speed(rate_hz=10, correlation=0.5, duration_s=8, reps=10)
    unc, cor = r["uncorrelated"], r["correlated"]
    for k in ("pre_rate_hz", "post_rate_hz"):  # same mean rates (within Poisson noise)
        assert abs(unc[k] - cor[k]) < 0.15 * unc[k]
    assert cor["mean_abs_change"] > 3 * unc["mean_abs_change"]


def test_cli_protocol_writes_json_and_png(tmp_path, capsys):
    rc = main(["protocol", "window", "--rule", "pair,calcium", "--out", str(tmp_path)])
    assert rc == 0
    data = json.loads((tmp_path / "window_pair_calcium.json").read_text())
    assert [d["rule"] for d in data] == ["pair", "calcium"]
    assert (tmp_path / "window_pair_calcium.png").stat().st_size > 1000
    assert main(["protocol", "window", "--rule", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown rule" in capsys.readouterr().err


def test_protocol_bad_arguments():
    with pytest.raises(HebbtorchError, match="freq_hz"):
        pairing_window("pair", freq_hz=0.0)
    with pytest.raises(HebbtorchError, match="triplet params"):
        frequency_dependence("triplet", "visual_cortex")
