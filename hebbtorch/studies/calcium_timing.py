"""Timing at fixed rates in the supervised calcium-bistable network (issue 27, item 4; after the
description of Girão, Risi & Chicca 2025: spike timing modulates the learning rate without
changing mean rates; subthreshold oscillations speed up synaptic change in recurrent networks;
continuous presentation reduces cross-class overlap). The experiments are our own design:

* **oscillation**: input rates ``r (1 + osc_depth sin(2 pi f t))`` (the mean over a
  presentation of whole periods is unchanged) and a subthreshold current
  ``osc_amp sin(2 pi f t)`` to the output neurons, in phase, so pre and post spikes cluster at
  the same phase; the measured input and output rates are reported next to the learning speed.
  The oscillation raises the non-target neurons' training rate, so two more conditions add
  to it a teacher inhibition calibrated (:func:`calibrate_inhibition`, on a seed of its own)
  to give the reset condition's non-target rate over the whole run or over the first
  evaluation interval.
* **speed of learning**: training images needed to reach each of ``targets`` validation
  accuracy (linear interpolation on the learning curve; None if never reached), the validation
  accuracy after the first evaluation interval, and the mean |ΔX| per image (summed over
  synapses) over that interval.
* **cross-class overlap**: the mean cosine similarity between the class-mean output spike-count
  vectors of different classes on the validation set (0: disjoint codes, 1: identical), always
  measured with isolated presentations, after training with (``continuous=True``: the network
  state is carried from one image to the next) and without continuous presentation.
"""

from __future__ import annotations

from typing import Any

import torch

from hebbtorch.plasticity.rules.calcium_bistable import CalciumBistableParameters
from hebbtorch.studies.calcium_supervised import SupervisedConfig, present, summarize, train

OSCILLATION = {"osc_hz": 20.0, "osc_depth": 0.8, "osc_amp": 0.3}  # own: 2 periods / image
CONDITIONS: dict[str, dict[str, Any]] = {
    "reset": {},
    "oscillation": OSCILLATION,
    "continuous": {"continuous": True},
}
# OSCILLATION with the teacher inhibition calibrated so that the non-target training rate is
# the reset condition's: over the whole training run, or over the first evaluation interval
MATCHED = "oscillation, rates matched"
MATCHED_EARLY = "oscillation, early rates matched"
CALIBRATION_SEED = 100  # not one of the evaluation seeds


def calibrate_inhibition(train_x: torch.Tensor, train_y: torch.Tensor, base: SupervisedConfig,
                         params: CalciumBistableParameters, change: dict[str, Any], *,
                         n_classes: int = 10, seed: int = CALIBRATION_SEED,
                         low: float | None = None, high: float = 1.0, steps: int = 6
                         ) -> dict[str, Any]:
    """The teacher's inhibition of the non-target neurons (``I_inh_teach``) under ``change``
    that gives the same mean non-target rate during training as ``base`` [own method]: both
    trained on ``train_x`` with the calibration ``seed``, then a bisection on the measured
    rate over ``[low (default base.I_inh_teach), high]`` (the rate falls as the inhibition
    grows). Only training rates are measured, no accuracy. Returns the value, the target rate
    and every step ``(I_inh_teach, rate)``; to match the rate of the first ``n`` images, pass
    ``train_x[:n]``."""
    def rate(c: SupervisedConfig) -> float:
        r = train(train_x, train_y, train_x[:1], train_y[:1], n_classes=n_classes, config=c,
                  params=params, seed=seed, eval_every=len(train_y))
        return r["train_rate_other_all_hz"]

    want = rate(base)
    lo, hi = (base.I_inh_teach if low is None else low), high
    trace = []
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        got = rate(base._replace(**change, I_inh_teach=mid))
        trace.append((mid, got))
        lo, hi = (mid, hi) if got > want else (lo, mid)
    best = min(trace, key=lambda t: abs(t[1] - want))
    return {"I_inh_teach": best[0], "target_rate_hz": want, "steps": trace, "seed": seed,
            "images": len(train_y)}


def class_overlap(X: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
                  c: SupervisedConfig, p: CalciumBistableParameters, gen: torch.Generator,
                  n_classes: int = 10, mask: torch.Tensor | None = None) -> float:
    """Mean cosine similarity between the class-mean output count vectors of different classes
    (isolated presentations, no teacher, no learning; ``mask``: the synapses that exist;
    classes absent from ``labels`` are left out; a silent class counts as orthogonal)."""
    c = c._replace(continuous=False)
    counts = torch.cat([present(X, images[i:i + c.batch], None, c, p, gen, learn=False,
                                mask=mask).counts for i in range(0, len(labels), c.batch)])
    present_cls = [k for k in range(n_classes) if bool((labels == k).any())]
    means = torch.stack([counts[labels == k].mean(0) for k in present_cls])
    unit = means / means.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos = unit @ unit.T
    off = ~torch.eye(len(present_cls), dtype=torch.bool)
    return float(cos[off].mean())


def images_to_reach(curve: list[dict[str, float]], target: float) -> float | None:
    """Training images at which the validation accuracy first reaches ``target`` (linear
    interpolation between evaluations; from 0 images at chance = 0.1)."""
    prev_n, prev_a = 0.0, 0.1
    for e in curve:
        if e["accuracy"] >= target:
            frac = (target - prev_a) / (e["accuracy"] - prev_a)
            return prev_n + frac * (e["images_seen"] - prev_n)
        prev_n, prev_a = e["images_seen"], e["accuracy"]
    return None


def speed_measures(run: dict[str, Any], targets=(0.6, 0.75)) -> dict[str, Any]:
    """``images_to_{pct}pct`` for each target, ``accuracy_first`` and ``abs_dX_first`` (the
    first evaluation interval) of a :func:`train` result."""
    out = {f"images_to_{round(100 * t)}pct": images_to_reach(run["curve"], t) for t in targets}
    first = run["curve"][0]
    return {**out, "accuracy_first": first["accuracy"], "abs_dX_first": first["abs_dX_per_image"]}


def timing_study(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
                 val_y: torch.Tensor, base: SupervisedConfig, params: CalciumBistableParameters,
                 *, seeds=(0, 1, 2), targets=(0.6, 0.75), eval_every: int = 250,
                 conditions: dict[str, dict[str, Any]] | None = None,
                 match_rates: bool | str = True, log: Any = None) -> list[dict[str, Any]]:
    """Each condition of ``conditions`` (default :data:`CONDITIONS`, fields replaced in
    ``base``) trained with every seed; per condition: learning curves, images to reach the
    ``targets``, |ΔX| per image, rates, cross-class overlap (mean ± sd over seeds). With
    ``match_rates`` the conditions :data:`MATCHED` and :data:`MATCHED_EARLY` are added:
    :data:`OSCILLATION` with the teacher inhibition from :func:`calibrate_inhibition` on all
    training images / on the first evaluation interval (its record in the row's
    ``calibration``)."""
    conditions = dict(CONDITIONS if conditions is None else conditions)
    calibration: dict[str, dict[str, Any]] = {}
    first = -(-eval_every // base.batch) * base.batch  # the first evaluation interval
    for name, n in ((MATCHED, len(train_y)), (MATCHED_EARLY, first)):
        if match_rates is True or match_rates == name:
            calibration[name] = calibrate_inhibition(train_x[:n], train_y[:n], base, params,
                                                     OSCILLATION)
            conditions[name] = {**OSCILLATION,
                                "I_inh_teach": calibration[name]["I_inh_teach"]}
            if log:
                log(f"{name}: I_inh_teach {calibration[name]['I_inh_teach']:.4f} for "
                    f"{calibration[name]['target_rate_hz']:.3f} Hz: {calibration[name]['steps']}")
    out = []
    for name, change in conditions.items():
        c = base._replace(**change)
        runs = []
        for seed in seeds:
            r = train(train_x, train_y, val_x, val_y, config=c, params=params, seed=seed,
                      eval_every=eval_every, keep_X=True)
            gen = torch.Generator().manual_seed(10_000 + seed)
            r["overlap"] = class_overlap(r.pop("X"), val_x, val_y, c, params, gen,
                                         mask=r.pop("mask"))
            r |= speed_measures(r, targets)
            runs.append(r)
            if log:
                log(f"{name} seed {seed}: final {r['final']['accuracy']:.3f}, first "
                    f"{r['accuracy_first']:.3f}, overlap {r['overlap']:.3f}")
        out.append(aggregate(name, change, runs, targets))
        if name in calibration:
            out[-1]["calibration"] = calibration[name]
    return out


def aggregate(name: str, change: dict[str, Any], runs: list[dict[str, Any]],
              targets=(0.6, 0.75)) -> dict[str, Any]:
    """One condition's row: the per-seed runs (with :func:`speed_measures` and ``overlap``)
    and mean ± sd over seeds of each measure (a target not reached is left out of its mean
    and counted in ``images_to_{pct}pct_reached``)."""
    for r in runs:
        r |= speed_measures(r, targets)
    scalars = [{"overlap": r["overlap"], "abs_dX_first": r["abs_dX_first"],
                "accuracy_first": r["accuracy_first"],
                "train_rate_input_hz": r["train_rate_input_hz"],
                "train_rate_target_hz": r["train_rate_target_hz"],
                "train_rate_other_hz": r["train_rate_other_hz"],
                "train_rate_target_all_hz": r["train_rate_target_all_hz"],
                "train_rate_other_all_hz": r["train_rate_other_all_hz"],
                "train_rate_target_first_hz": r["curve"][0]["train_rate_target_hz"],
                "train_rate_other_first_hz": r["curve"][0]["train_rate_other_hz"]} for r in runs]
    reach = {}
    for t in targets:
        key = f"images_to_{round(100 * t)}pct"
        hit = [{"s": {key: r[key]}} for r in runs if r[key] is not None]
        reach |= {f"{key}_reached": len(hit), **(summarize(hit, "s") if hit else {})}
    return {"condition": name, "change": change, "targets": list(targets),
            "seeds": [r["seed"] for r in runs], **reach,
            **summarize([{"s": s} for s in scalars], "s"),
            "validation": summarize(runs, "final"), "per_seed": runs}
