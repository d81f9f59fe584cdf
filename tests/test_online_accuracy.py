"""The accuracy study's cue-task variants, splits and merging (studies.online_accuracy)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.studies import online_accuracy as oa


def _without(cfg: dict, *keys: str) -> dict:
    return {k: v for k, v in cfg.items() if k not in keys}


@pytest.mark.parametrize("task, changed", [
    ("cue-accumulation-tau40", {"beta": math.exp(-1 / 40)}),
    ("cue-accumulation-tau60", {"beta": math.exp(-1 / 60)}),
    ("cue-accumulation-lif", {"neuron": "lif"}),
])
def test_network_variants_change_only_the_named_parameter(task, changed):
    """Same budget, optimizer, regularisation, trials; one network parameter differs."""
    base, var = oa.TASKS["cue-accumulation"], oa.TASKS[task]
    assert _without(var, "net", "tau_m") == _without(base, "net", "tau_m")
    assert {k: v for k, v in var["net"].items() if base["net"][k] != v} == changed


@pytest.mark.parametrize("delay", [0, 10, 40])
def test_delay_variants_move_the_recall_only(delay):
    base, var = oa.TASKS["cue-accumulation"], oa.TASKS[f"cue-accumulation-delay{delay}"]
    assert _without(var, "trial") == _without(base, "trial")
    assert var["trial"] == {"delay_steps": delay} and base["trial"] == {"delay_steps": 20}
    train, test = oa._cue_data(var, seed=0)
    x, _, w = train(0)
    assert x.shape[0] == 7 * 10 + delay + 10  # 7 cues of 6 + 4 steps, the delay, 10 recall steps
    assert test.x.shape[0] == x.shape[0] and w[-10:].sum() == pytest.approx(1.0)


def test_validation_trials_are_neither_test_nor_training_trials():
    cfg = oa.TASKS["cue-accumulation"]
    train, test = oa._cue_data(cfg, seed=1)
    _, val = oa._cue_data(cfg, seed=1, split="validation")
    assert val.x.shape[1] == cfg["validation_trials"] and test.x.shape[1] == cfg["test_trials"]
    n = min(val.x.shape[1], test.x.shape[1])
    assert not torch.equal(val.x[:, :n], test.x[:, :n])
    xb = train(0).x
    assert not torch.equal(val.x[:, :xb.shape[1]], xb)


def test_a_validation_run_is_recorded_apart_from_the_test_run(tmp_path):
    v = oa.run_one("cue-accumulation-delay0", "ottt", 0, split="validation", updates=2)
    t = oa.run_one("cue-accumulation-delay0", "ottt", 0, updates=2)
    assert v["split"] == "validation" and "test_accuracy" not in v
    assert 0.0 <= v["validation_accuracy"] <= 1.0 and 0.0 <= t["test_accuracy"] <= 1.0
    for name, rows in (("a", [t]), ("b", [v])):
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"tasks": {}, "rows": rows, "command": name}))
    oa.merge([str(tmp_path / "a.json"), str(tmp_path / "b.json")], str(tmp_path / "m.json"))
    merged = json.loads((tmp_path / "m.json").read_text())
    assert len(merged["rows"]) == 2  # same task, method and seed; different splits
    summary = merged["summary"]
    assert summary["cue-accumulation-delay0"]["ottt"]["mean"] == t["test_accuracy"]
    assert summary["cue-accumulation-delay0/validation"]["ottt"]["mean"] == v[
        "validation_accuracy"]


def test_bad_split_is_refused_in_one_line():
    with pytest.raises(HebbtorchError, match="split must be one of"):
        oa.run_one("cue-accumulation", "ottt", 0, split="train", updates=1)
    with pytest.raises(HebbtorchError, match="no validation split"):
        oa._fashion_data(oa.TASKS["fashion-mnist"], 0, "validation")


def _report(task: str, accs: dict[str, list[float]]) -> dict:
    return {"rows": [{"task": task, "learning": m, "seed": s, "split": "test",
                      "test_accuracy": a} for m, per in accs.items() for s, a in enumerate(per)]}


def test_delay_curve_orders_the_gaps_and_keeps_the_seeds():
    reports = [_report("cue-accumulation", {"bptt": [0.9, 0.92, 0.94], "ottt": [0.8, 0.8, 0.9]}),
               _report("cue-accumulation-delay40", {"bptt": [0.9, 0.9, 0.9], "ottt": [0.7] * 3}),
               _report("cue-accumulation-delay0", {"bptt": [1.0] * 3, "ottt": [0.95] * 3}),
               _report("cue-accumulation-tau60", {"ottt": [0.99] * 3})]  # not a delay variant
    curve = oa.delay_curve(reports)
    assert curve["gap"] == [4, 24, 44]  # the delay plus the 4 silent steps after the last cue
    assert curve["methods"]["OTTT"] == [[0.95] * 3, [0.8, 0.8, 0.9], [0.7] * 3]
    assert curve["methods"]["BPTT"][1] == [0.9, 0.92, 0.94]


def test_delay_figure_draws_one_curve_per_method(tmp_path):
    from hebbtorch.viz.online import delay_figure

    curve = {"gap": [4, 24], "methods": {"BPTT": [[1.0, 0.9], [0.9, 0.9]],
                                         "OTTT": [[0.9, 0.9], [0.8, 0.6]]}}
    ax = delay_figure(curve).axes[0]
    means = {c.get_label(): list(c.lines[0].get_ydata()) for c in ax.containers}
    assert means == {"BPTT": pytest.approx([95.0, 90.0]), "OTTT": pytest.approx([90.0, 70.0])}
    with pytest.raises(HebbtorchError, match="needs the reports"):
        oa.main(["--delay-figure", str(tmp_path / "d.png")])
    for i, rep in enumerate([_report("cue-accumulation", {"ottt": [0.8, 0.9]}),
                             _report("cue-accumulation-delay0", {"ottt": [0.9, 1.0]})]):
        (tmp_path / f"{i}.json").write_text(json.dumps(rep))
    oa.main(["--delay-figure", str(tmp_path / "d.png"), "--merge", str(tmp_path / "0.json"),
             str(tmp_path / "1.json")])
    assert (tmp_path / "d.png").stat().st_size > 1000
