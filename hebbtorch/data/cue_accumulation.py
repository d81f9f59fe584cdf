"""Evidence (cue) accumulation, generated in code: the memory task of Bellec et al. 2020
(Nat. Commun. 11:3625; after Morcos & Harvey 2016), in fewer, coarser steps.

Input: four groups of ``channels`` Bernoulli spike channels (left cue, right cue, recall cue,
background noise). ``n_cues`` cues, each on one side drawn with p = 1/2, are shown for
``cue_steps`` steps with ``gap_steps`` silent steps after each; after ``delay_steps`` the recall
group fires for ``recall_steps`` steps, and the answer (label 0 = left, 1 = right) is the side
that had more cues. The loss counts only during the recall (``loss_weights``), so the network has
to hold the evidence across the delay. Firing probabilities are per step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from hebbtorch.errors import HebbtorchError


class CueTrials(NamedTuple):
    """x ``[time, trials, 4 * channels]`` (0/1); labels ``[trials]``; loss_weights ``[time]``
    (1 / recall_steps on the recall steps, 0 elsewhere)."""

    x: torch.Tensor
    labels: torch.Tensor
    loss_weights: torch.Tensor


def cue_accumulation(
    n_trials: int,
    *,
    n_cues: int = 7,
    cue_steps: int = 6,
    gap_steps: int = 4,
    delay_steps: int = 20,
    recall_steps: int = 10,
    channels: int = 10,
    p_cue: float = 0.4,
    p_noise: float = 0.05,
    seed: int = 0,
) -> CueTrials:
    """``n_trials`` trials; odd ``n_cues`` so that there is always a majority."""
    if n_cues < 1 or n_cues % 2 == 0:
        raise HebbtorchError(f"n_cues must be odd and >= 1 (no ties), got {n_cues}")
    for name, v in (("n_trials", n_trials), ("cue_steps", cue_steps), ("channels", channels),
                    ("recall_steps", recall_steps)):
        if v < 1:
            raise HebbtorchError(f"{name} must be >= 1, got {v}")
    if gap_steps < 0 or delay_steps < 0:
        raise HebbtorchError("gap_steps and delay_steps must be >= 0")
    for name, p in (("p_cue", p_cue), ("p_noise", p_noise)):
        if not 0.0 <= p <= 1.0:
            raise HebbtorchError(f"{name} must be a probability, got {p}")
    g = torch.Generator().manual_seed(seed)
    period = cue_steps + gap_steps
    T = n_cues * period + delay_steps + recall_steps
    sides = torch.randint(0, 2, (n_trials, n_cues), generator=g)  # 0 left, 1 right
    rate = torch.zeros(T, n_trials, 4)
    rate[..., 3] = p_noise
    for k in range(n_cues):
        t0 = k * period
        rate[t0:t0 + cue_steps, torch.arange(n_trials), sides[:, k]] = p_cue
    rate[T - recall_steps:, :, 2] = p_cue
    rate = rate.repeat_interleave(channels, dim=2)
    x = (torch.rand(rate.shape, generator=g) < rate).float()
    labels = (sides.sum(1) * 2 > n_cues).long()
    weights = torch.zeros(T)
    weights[T - recall_steps:] = 1.0 / recall_steps
    return CueTrials(x, labels, weights)
