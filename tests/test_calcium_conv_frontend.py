"""The conv-STDP front end of the supervised calcium network: STDP-learned kernels (no labels),
pooled potentials, the exact coding level with ties broken at random, determinism by seed,
bad input checked before any learning."""

from __future__ import annotations

import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.networks.conv_stdp import ConvSTDPNet
from hebbtorch.studies.calcium_frontend import (
    conv_stdp_network,
    conv_stdp_potentials,
    conv_stdp_size,
    kwta,
)
from hebbtorch.studies.calcium_supervised import SupervisedConfig, train


def strokes(n: int, side: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiny images: a horizontal or a vertical bar at a random place, label = orientation."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.zeros(n, side, side)
    pos = torch.randint(2, side - 2, (n,), generator=g)
    for i in range(n):
        if y[i]:
            x[i, 1:-1, pos[i]] = 1.0
        else:
            x[i, pos[i], 1:-1] = 1.0
    return x.flatten(1), y


@pytest.fixture(scope="module")
def net() -> ConvSTDPNet:
    return conv_stdp_network(strokes(40)[0], seed=0, layer_images=15)


def test_stdp_changes_the_kernels_and_is_seeded(net):
    fresh = ConvSTDPNet(generator=torch.Generator().manual_seed(90_000))  # its initial kernels
    assert not torch.equal(net.weights[0], fresh.weights[0])  # STDP learned
    again = conv_stdp_network(strokes(40)[0], seed=0, layer_images=15)
    other = conv_stdp_network(strokes(40)[0], seed=1, layer_images=15)
    assert all(torch.equal(a, b) for a, b in zip(net.weights, again.weights, strict=True))
    assert not torch.equal(net.weights[0], other.weights[0])


@pytest.mark.parametrize("side", [0, 1, 2])
def test_potential_shape_matches_size(net, side):
    x = strokes(7)[0]
    p = conv_stdp_potentials(net, x, side)
    # 10 px -> conv 5x5 pad 2 -> 10, pool -> 6, conv 2x2 pad 1 -> 7, pool -> 4 positions/side
    n = 150 * (side or 4) ** 2
    assert p.shape == (7, n) and conv_stdp_size(100, side) == n
    assert (p >= 0).all()  # kernels >= 0, cumulative waves


def test_further_pooling_is_the_max_over_positions(net):
    x = strokes(5)[0]
    assert torch.equal(conv_stdp_potentials(net, x, 1),
                       conv_stdp_potentials(net, x, 0).view(5, 150, 16).amax(2))


def test_kwta_exact_coding_level_and_largest_win(net):
    p = conv_stdp_potentials(net, strokes(20)[0], 0)
    h = kwta(p, 0.1, tie_seed=3)
    assert (h.sum(1) == 240).all() and set(h.unique().tolist()) <= {0.0, 1.0}
    thr = p.topk(240, 1).values[:, -1:]
    assert ((p > thr) <= (h > 0)).all() and ((h > 0) <= (p >= thr)).all()
    assert torch.equal(h, kwta(p, 0.1, tie_seed=3))
    ties = (p == thr).sum(1) > 1
    assert ties.any()  # near-binary kernels: the tie-break is needed here


def test_train_through_conv_stdp_front_end():
    """The plastic layer sees exactly the coding level's fraction of the features on."""
    x, y = strokes(60)
    cfg = SupervisedConfig(k=2, batch=20, expand=600, expand_coding=0.1, expand_kind="conv-stdp",
                           expand_patch=2, expand_learn=10, t_present=20.0, t_lead=10.0)
    r = train(x[:40], y[:40], x[40:50], y[40:50], x[50:], y[50:], n_classes=2, config=cfg,
              eval_every=40)
    assert r["final"]["coding_level_in"] == pytest.approx(0.1, abs=1e-6)
    assert r["test"]["coding_level_in"] == pytest.approx(0.1, abs=1e-6)


def test_conv_stdp_bad_input():
    with pytest.raises(HebbtorchError, match="square images"):
        conv_stdp_network(torch.rand(5, 90), seed=0)
    with pytest.raises(HebbtorchError, match="layer_images must be"):
        conv_stdp_network(torch.rand(5, 100), seed=0, layer_images=0)
    with pytest.raises(HebbtorchError, match="side must be in 0..4"):
        conv_stdp_size(100, 5)
    x, y = strokes(20)
    cfg = SupervisedConfig(expand=100, expand_kind="conv-stdp", expand_patch=2)
    with pytest.raises(HebbtorchError, match="set expand = 600"):  # before any learning
        train(x, y, x, y, n_classes=2, config=cfg)
    with pytest.raises(HebbtorchError, match="expand_learn"):
        train(x, y, x, y, n_classes=2, config=cfg._replace(expand=600, expand_learn=0))
