"""Supervised learning with the calcium-bistable rule alone (teacher current, coding-level
inhibition, stop-learning): a separable toy task, the honest split, the physics of the
network (teacher-driven rate, mean-preserving oscillation), the timing study's measures, bad
input, the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hebbtorch.cli.main import main
from hebbtorch.errors import HebbtorchError
from hebbtorch.studies.calcium_supervised import (
    SUPERVISED_RULE,
    TASK_CONFIGS,
    SupervisedConfig,
    evaluate,
    predict,
    present,
    split_validation,
    summarize,
    train,
    zero_state,
)
from hebbtorch.studies.calcium_timing import class_overlap, images_to_reach


def toy(n: int, seed: int, n_cls: int = 4, n_in: int = 100):
    """Noisy copies (5 % of pixels flipped) of one random 30 %-active pattern per class."""
    g = torch.Generator().manual_seed(123)
    protos = (torch.rand(n_cls, n_in, generator=g) < 0.3).float()
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_cls, (n,), generator=g)
    flip = (torch.rand(n, n_in, generator=g) < 0.05).float()
    return (protos[y] - flip).abs(), y


def test_rule_alone_learns_a_separable_task():
    xtr, ytr = toy(400, 0)
    xte, yte = toy(200, 1)
    cfg = SupervisedConfig(k=3, batch=20)
    untrained = evaluate(torch.full((100, 12), 0.5), xte, yte, cfg, SUPERVISED_RULE,
                         torch.Generator().manual_seed(0))
    r = train(xtr, ytr, xte, yte, n_classes=4, config=cfg, eval_every=200)
    assert r["final"]["accuracy"] >= 0.9 > untrained["accuracy"] + 0.4
    assert [e["images_seen"] for e in r["curve"]] == [200, 400]
    assert r["train_rate_target_hz"] > 5 * r["train_rate_other_hz"]  # the teacher's effect
    assert 0 < r["final"]["coding_level_out"] < 1


def test_vote_masks_are_per_neuron_and_absent_synapses_do_nothing():
    """Population vote: each output neuron has its own random input subset (p_connect), and
    the efficacy of an absent synapse has no effect on what the network does."""
    xtr, ytr = toy(200, 0)
    cfg = SupervisedConfig(k=3, batch=50, p_connect=0.5)
    r = train(xtr, ytr, xtr[:50], ytr[:50], n_classes=4, config=cfg, eval_every=200,
              keep_X=True)
    mask = r["mask"]
    assert abs(float(mask.mean()) - 0.5) < 0.05
    assert len({tuple(col.tolist()) for col in mask.T}) == mask.shape[1]  # all different
    scrambled = torch.where(mask > 0, r["X"], torch.rand(mask.shape))
    runs = [present(X, xtr[:50], None, cfg, SUPERVISED_RULE, torch.Generator().manual_seed(7),
                    learn=False, mask=mask) for X in (r["X"], scrambled)]
    assert torch.equal(runs[0].counts, runs[1].counts)
    assert torch.equal(runs[0].drive, runs[1].drive)
    assert r["final"]["accuracy"] >= 0.9


def test_predict_counts_then_drive():
    counts = torch.tensor([[0.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    drive = torch.tensor([[9.0, 9.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0]])
    assert predict(counts, drive, 2).tolist() == [1, 1]


def test_test_split_does_not_touch_training():
    """The test split is evaluated once, after training: giving it changes neither the
    validation curve nor the learned weights (same seed)."""
    xtr, ytr = toy(100, 0)
    xva, yva = toy(40, 1)
    cfg = SupervisedConfig(k=2, batch=20)
    a = train(xtr, ytr, xva, yva, n_classes=4, config=cfg, eval_every=50, keep_X=True)
    b = train(xtr, ytr, xva, yva, *toy(60, 2), n_classes=4, config=cfg, eval_every=50,
              keep_X=True)
    assert a["curve"] == b["curve"] and torch.equal(a["X"], b["X"])
    assert "test" not in a and b["n_test"] == 60 and 0 <= b["test"]["accuracy"] <= 1


def test_split_validation_is_a_partition():
    x, y = toy(50, 0)
    xtr, ytr, xva, yva = split_validation(x, y, 10)
    assert len(yva) == 10 and len(ytr) == 40
    rows = {tuple(r.tolist()) for r in torch.cat([xtr, xva])}
    assert rows == {tuple(r.tolist()) for r in x}
    assert torch.equal(split_validation(x, y, 10)[2], xva)  # the same for every training seed


def test_summarize_mean_and_sample_sd():
    runs = [{"test": {"accuracy": a}} for a in (0.8, 0.9, 1.0)]
    s = summarize(runs)
    assert s["accuracy_mean"] == pytest.approx(0.9) and s["accuracy_sd"] == pytest.approx(0.1)


def test_teacher_alone_drives_the_lif_rate_of_the_analytic_period():
    """No input: a target neuron integrates the constant teacher current I to threshold 1 in
    n = ceil(ln(1 - 1/I) / ln(exp(-dt/tau_m))) steps, then resets; the others stay silent."""
    c = SupervisedConfig(k=1, batch=1, t_lead=0.0, t_present=200.0, I_teach=2.5)
    X = torch.full((5, 3), 0.5)
    r = present(X, torch.zeros(1, 5), torch.tensor([1]), c, SUPERVISED_RULE,
                torch.Generator().manual_seed(0), learn=True)
    n = math.ceil(math.log(1 - 1 / c.I_teach) / (-c.dt / c.tau_m))
    assert r.counts[0].tolist() == [0.0, float(200 // n), 0.0]
    # no presynaptic spike, so no jump: only the drift, down (X = theta_X) at beta for 200 ms
    assert torch.allclose(r.X, X - SUPERVISED_RULE.beta * 0.2, atol=1e-7)


def test_oscillation_keeps_the_mean_input_rate():
    """Rates r (1 + m sin(2 pi f t)) over whole periods: the same expected input count."""
    img = torch.full((400, 50), 0.5)
    X = torch.full((50, 2), 0.5)
    counts = []
    for depth in (0.0, 0.8):
        c = SupervisedConfig(k=1, batch=400, osc_hz=20.0, osc_depth=depth)
        counts.append(present(X, img, None, c, SUPERVISED_RULE,
                              torch.Generator().manual_seed(1), learn=False).n_in.sum())
    expected = 400 * 50 * 0.5 * 100.0 * 0.1  # images x inputs x intensity x Hz x s
    for n in counts:  # Poisson-like count: within 4 standard deviations
        assert abs(float(n) - expected) < 4 * math.sqrt(expected)


def test_state_from_rest_equals_no_state():
    x, y = toy(10, 0)
    X = torch.full((100, 8), 0.5)
    c = SupervisedConfig(k=2, batch=10)
    a = present(X, x, y, c, SUPERVISED_RULE, torch.Generator().manual_seed(3), learn=True)
    b = present(X, x, y, c, SUPERVISED_RULE, torch.Generator().manual_seed(3), learn=True,
                state=zero_state(10, 100, 8, X))
    assert torch.equal(a.counts, b.counts) and torch.equal(a.X, b.X)
    assert a.state.t == c.t_lead + c.t_present


def test_images_to_reach_interpolates():
    curve = [{"images_seen": 100, "accuracy": 0.5}, {"images_seen": 200, "accuracy": 0.9}]
    assert images_to_reach(curve, 0.7) == pytest.approx(150.0)
    assert images_to_reach(curve, 0.3) == pytest.approx(50.0)  # from chance (0.1) at 0
    assert images_to_reach(curve, 0.95) is None


def test_class_overlap_is_one_for_identical_neurons():
    x, y = toy(80, 0)
    c = SupervisedConfig(k=2, batch=40)
    ov = class_overlap(torch.full((100, 8), 0.9), x, y, c, SUPERVISED_RULE,
                       torch.Generator().manual_seed(0), n_classes=4)
    assert ov == pytest.approx(1.0, abs=0.05)  # every class drives every neuron alike
    X = torch.zeros(100, 8)
    g = torch.Generator().manual_seed(123)  # the prototypes of toy()
    protos = (torch.rand(4, 100, generator=g) < 0.3).float()
    X[:, :] = protos.T.repeat_interleave(2, 1)  # each pool wired to its own class only
    ov2 = class_overlap(X, x, y, c, SUPERVISED_RULE, torch.Generator().manual_seed(0),
                        n_classes=4)
    assert ov2 < ov


def test_rule_alone_learns_through_the_expansion():
    xtr, ytr = toy(400, 0)
    xte, yte = toy(200, 1)
    cfg = SupervisedConfig(k=3, batch=20, expand=300, expand_coding=0.15)
    r = train(xtr, ytr, xte, yte, xte, yte, n_classes=4, config=cfg, eval_every=400)
    assert r["final"]["accuracy"] >= 0.9 and r["test"]["accuracy"] >= 0.9
    assert r["final"]["coding_level_in"] == pytest.approx(0.15, abs=0.005)


def test_supervised_bad_input():
    x, y = toy(10, 0)
    with pytest.raises(HebbtorchError, match="p_connect"):
        train(x, y, x, y, n_classes=4, config=SupervisedConfig(p_connect=0.0))
    with pytest.raises(HebbtorchError, match="val_x must be"):
        train(x, y, x[:, :50], y, n_classes=4)
    with pytest.raises(HebbtorchError, match="test_y"):
        train(x, y, x, y, x, n_classes=4)
    with pytest.raises(HebbtorchError, match="osc_amp"):
        train(x, y, x, y, n_classes=4, config=SupervisedConfig(osc_amp=1.0))
    with pytest.raises(HebbtorchError, match="exceeds one spike"):
        train(x, y, x, y, n_classes=4, config=SupervisedConfig(max_rate=900.0, osc_depth=0.5))
    with pytest.raises(HebbtorchError, match="expand_kind"):
        train(x, y, x, y, n_classes=4, config=SupervisedConfig(expand=50, expand_kind="conv"))
    with pytest.raises(HebbtorchError, match="expand must"):
        train(x, y, x, y, n_classes=4, config=SupervisedConfig(expand=-5))
    with pytest.raises(HebbtorchError, match="expand_coding"):
        train(x, y, x, y, n_classes=4, config=SupervisedConfig(expand=50, expand_coding=0.0))
    with pytest.raises(HebbtorchError, match="n_val"):
        split_validation(x, y, 10)


def test_cli_tasks_are_the_study_configs():
    from hebbtorch.cli.calcium import TASKS

    assert set(TASKS) == set(TASK_CONFIGS)


def test_cli_calcium_train_writes_json(tmp_path, capsys):
    rc = main(["calcium", "train", "--dataset", "mnist-5k", "--train-images", "100",
               "--val-images", "50", "--test-images", "50", "--k", "2", "--batch-size", "50",
               "--out", str(tmp_path), "--device", "cpu"])
    assert rc == 0
    data = json.loads((tmp_path / "calcium_train.json").read_text())
    assert data["n_train"] == 50 and data["n_val"] == 50 and data["n_test"] == 50
    assert 0.0 <= data["test"]["accuracy"] <= 1.0
    assert (tmp_path / "calcium_learning.png").stat().st_size > 1000
    assert "test accuracy" in capsys.readouterr().out
    assert main(["calcium", "train", "--dataset", "nope", "--out", str(tmp_path)]) == 2


def test_cli_calcium_train_keeps_the_task_k_unless_given(tmp_path):
    """``--k`` overrides the task's output neurons per class only when given (the vote
    configuration's k = 20 must not fall back to 10)."""
    base = ["calcium", "train", "--dataset", "mnist-5k", "--task-config", "fashion-local-vote",
            "--train-images", "60", "--val-images", "20", "--test-images", "20",
            "--batch-size", "40", "--device", "cpu", "--quiet"]
    for extra, want in (([], TASK_CONFIGS["fashion-local-vote"][0].k), (["--k", "3"], 3)):
        out = tmp_path / str(want)
        assert main(base + extra + ["--out", str(out)]) == 0
        cfg = json.loads((out / "calcium_train.json").read_text())["config"]
        assert cfg["k"] == want and cfg["p_connect"] == 0.5
    assert want != TASK_CONFIGS["fashion-local-vote"][0].k


def test_cli_calcium_timing_writes_json(tmp_path, capsys):
    rc = main(["calcium", "timing", "--train-images", "120", "--val-images", "20", "--k", "1",
               "--batch-size", "50", "--eval-every", "50", "--out", str(tmp_path),
               "--device", "cpu"])
    assert rc == 0
    rows = json.loads((tmp_path / "calcium_timing.json").read_text())["rows"]
    assert [r["condition"] for r in rows] == ["reset", "oscillation", "continuous",
                                              "oscillation, rates matched",
                                              "oscillation, early rates matched"]
    for r in rows[3:]:
        assert r["change"]["I_inh_teach"] == r["calibration"]["I_inh_teach"] >= 0.3
    assert [r["calibration"]["images"] for r in rows[3:]] == [100, 50]
    assert all(0.0 <= r["overlap_mean"] <= 1.0 for r in rows)
    assert "cross-class overlap" in capsys.readouterr().out


def test_calibrated_inhibition_matches_the_non_target_rate():
    """The bisection finds a teacher inhibition under which the oscillation's non-target
    training rate is closer to the control's than without it, and reports its steps."""
    from hebbtorch.studies.calcium_timing import OSCILLATION, calibrate_inhibition

    x, y = toy(120, 0)
    base = SupervisedConfig(k=2, batch=40, I_inh_teach=0.0, g_inh=0.08)  # others fire
    cal = calibrate_inhibition(x, y, base, SUPERVISED_RULE, OSCILLATION, n_classes=4,
                               steps=5)
    assert len(cal["steps"]) == 5 and 0.0 < cal["I_inh_teach"] < 1.0

    def rate(c):
        return train(x, y, x[:1], y[:1], n_classes=4, config=c, seed=cal["seed"],
                     eval_every=120)["train_rate_other_all_hz"]

    assert rate(base) == pytest.approx(cal["target_rate_hz"])
    off = abs(rate(base._replace(**OSCILLATION)) - cal["target_rate_hz"])
    matched = abs(rate(base._replace(**OSCILLATION, I_inh_teach=cal["I_inh_teach"]))
                  - cal["target_rate_hz"])
    assert matched < off


def test_jump_decay_acts_from_the_second_pass_on():
    """``jump_decay`` scales a and b by decay^epoch: the first pass is the same as without it,
    the second differs."""
    xtr, ytr = toy(80, 0)
    cfg = SupervisedConfig(k=2, batch=40)
    a = train(xtr, ytr, xtr, ytr, n_classes=4, config=cfg, epochs=2, eval_every=80)
    b = train(xtr, ytr, xtr, ytr, n_classes=4, config=cfg._replace(jump_decay=0.5), epochs=2,
              eval_every=80)
    assert a["curve"][0] == b["curve"][0]
    assert a["curve"][1]["abs_dX_per_image"] != b["curve"][1]["abs_dX_per_image"]
    with pytest.raises(HebbtorchError, match="jump_decay"):
        train(xtr, ytr, xtr, ytr, n_classes=4, config=cfg._replace(jump_decay=0.0))


def test_bench_merge_joins_seeds_run_apart(load_script):
    """bench/calcium_supervised.py --merge: one seed per file joins into the run that all
    seeds in one process give (summaries equal); a seed given twice, or seeds run with
    different settings, are refused."""
    bench = load_script("bench/calcium_supervised.py")
    xtr, ytr = toy(80, 0)
    head = {"name": "toy", "dataset": "toy", "task": "toy", "epochs": 1, "n_train": 80,
            "n_val": 80, "n_test": 80}
    per_seed = [{**train(xtr, ytr, xtr, ytr, xtr, ytr, n_classes=4, seed=s, eval_every=80,
                         config=SupervisedConfig(k=2, batch=40)), "cpu_s": 1.0 + s}
                for s in (0, 1, 2)]
    whole = bench.summarize_run(head, per_seed)
    apart = [bench.summarize_run(head, [r]) for r in (per_seed[2], per_seed[0], per_seed[1])]
    other = bench.summarize_run({**head, "name": "other"}, per_seed[:1])
    merged = bench.merge([apart[0], other, *apart[1:]])
    assert [r["name"] for r in merged] == ["toy", "other"]
    assert merged[0]["seeds"] == [0, 1, 2] and merged[1] is other
    for key in ("test", "validation", "cpu_s_per_seed", "train_rate_other_hz"):
        assert merged[0][key] == whole[key]
    with pytest.raises(SystemExit, match="seed"):
        bench.merge([apart[0], apart[0]])
    changed = {**apart[1], "per_seed": [{**per_seed[0], "rule": {"a": 0.5}}]}
    with pytest.raises(SystemExit, match="settings"):
        bench.merge([apart[0], changed, apart[2]])
    with pytest.raises(SystemExit, match="n_train"):
        bench.merge([apart[0], {**apart[1], "n_train": 81}, apart[2]])
