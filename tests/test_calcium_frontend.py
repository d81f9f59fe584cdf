"""The fixed front ends of the supervised calcium network (global random projection, random
local receptive fields): shapes, the exact coding level, locality, determinism by seed, bad
input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbtorch.errors import HebbtorchError
from hebbtorch.studies.calcium_frontend import binary_features, front_end_weights
from hebbtorch.studies.calcium_supervised import SupervisedConfig, train


def images(n: int, side: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, side * side, generator=torch.Generator().manual_seed(seed))


def test_global_weights_are_zero_mean_and_seeded():
    R = front_end_weights(100, 200, seed=3)
    assert R.shape == (100, 200) and torch.allclose(R.mean(0), torch.zeros(200), atol=1e-6)
    assert torch.equal(R, front_end_weights(100, 200, seed=3))
    assert not torch.equal(R, front_end_weights(100, 200, seed=4))


@settings(max_examples=25, deadline=None)
@given(side=st.integers(3, 12), patch=st.integers(1, 12), n=st.integers(1, 60),
       seed=st.integers(0, 1000))
def test_local_fields_are_square_patches_with_zero_mean(side, patch, n, seed):
    patch = min(patch, side)
    R = front_end_weights(side * side, n, seed, "local", patch)
    assert torch.equal(R, front_end_weights(side * side, n, seed, "local", patch))
    for j in range(n):
        rows, cols = (R[:, j] != 0).view(side, side).nonzero().unbind(1)
        if patch > 1:  # (a 1-pixel patch has its only weight removed by the mean)
            assert int(rows.max() - rows.min()) < patch and int(cols.max() - cols.min()) < patch
        assert abs(float(R[:, j].sum())) < 1e-5  # the patch's mean removed


@pytest.mark.parametrize("kind,patch,eps", [("global", 0, None), ("local", 4, None),
                                            ("local", 4, 1.0)])
def test_features_have_the_exact_coding_level(kind, patch, eps):
    R = front_end_weights(100, 300, 0, kind, patch)
    h = binary_features(images(40), R, 0.1, eps)
    assert h.shape == (40, 300) and set(h.unique().tolist()) <= {0.0, 1.0}
    assert (h.sum(1) == 30).all()  # continuous responses: ties have measure zero
    assert torch.equal(h, binary_features(images(40), R, 0.1, eps))


def test_normalised_local_features_ignore_blank_patches():
    """With the patch normalisation a feature whose patch is blank responds 0, below any
    feature that sees a matching stroke: on an image lit in one corner only features there
    win."""
    x = torch.zeros(1, 100)
    x.view(10, 10)[:4, :4] = torch.rand(4, 4, generator=torch.Generator().manual_seed(1))
    R = front_end_weights(100, 400, 0, "local", 3)
    h = binary_features(x, R, 0.05, 1.0)[0].bool()
    touches = (R.abs().view(10, 10, -1)[:4, :4].sum((0, 1)) > 0)
    assert bool(touches[h].all())


def test_rule_alone_learns_through_local_fields():
    g = torch.Generator().manual_seed(5)
    protos = (torch.rand(3, 64, generator=g) < 0.3).float()
    y = torch.randint(0, 3, (300,), generator=g)
    x = (protos[y] - (torch.rand(300, 64, generator=g) < 0.05).float()).abs()
    cfg = SupervisedConfig(k=3, batch=20, expand=200, expand_coding=0.1, expand_kind="local",
                           expand_patch=4, expand_norm_eps=1.0)
    r = train(x[:200], y[:200], x[200:], y[200:], n_classes=3, config=cfg, eval_every=200)
    assert r["final"]["accuracy"] >= 0.9
    assert r["final"]["coding_level_in"] == pytest.approx(0.1, abs=1e-6)


def test_front_end_bad_input():
    with pytest.raises(HebbtorchError, match="square images"):
        front_end_weights(90, 10, 0, "local", 3)
    with pytest.raises(HebbtorchError, match="patch must be in 1..10"):
        front_end_weights(100, 10, 0, "local", 11)
    with pytest.raises(HebbtorchError, match="front end must be one of"):
        front_end_weights(100, 10, 0, "conv", 3)
    with pytest.raises(HebbtorchError, match="positive integer"):
        front_end_weights(100, 0, 0)
    x, y = images(20), torch.arange(20) % 2
    with pytest.raises(HebbtorchError, match="patch must be"):  # checked before training
        train(x, y, x, y, n_classes=2,
              config=SupervisedConfig(expand=20, expand_kind="local", expand_patch=0))
    with pytest.raises(HebbtorchError, match="expand_norm_eps"):
        train(x, y, x, y, n_classes=2, config=SupervisedConfig(expand=20, expand_norm_eps=-1))
