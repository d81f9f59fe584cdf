"""SpikeProp: the analytic gradient against finite differences, and XOR convergence."""

from __future__ import annotations

import pytest
import torch

from hebbtorch.learning import spikeprop as sp


@pytest.mark.parametrize("sign_constrained", [True, False])
def test_gradient_matches_finite_differences(sign_constrained):
    g = torch.Generator().manual_seed(1)
    cfg = sp.SpikePropConfig(sizes=(3, 4, 2), delays=(1.0, 3.0, 5.0, 7.0), w_init=(0.2, 0.6),
                             inhibitory=(1,), sign_constrained=sign_constrained)
    net = sp.SpikePropNet(cfg, g)
    t_in = torch.tensor([[0.0, 6.0, 0.0], [6.0, 0.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([[10.0, 16.0], [16.0, 10.0]], dtype=torch.float64)
    times = net(t_in)
    assert all(bool(torch.isfinite(t).all()) for t in times)  # every neuron fires
    grads, _ = net.gradients(times, target)

    def loss() -> float:
        return float(net.loss(net(t_in)[-1], target).sum())

    h = 1e-6
    checked = 0
    for w, gw in zip(net.weights, grads, strict=True):
        flat = w.view(-1)
        for i in range(0, flat.numel(), 9):
            old = float(flat[i])
            flat[i] = old + h
            up = loss()
            flat[i] = old - h
            down = loss()
            flat[i] = old
            num = (up - down) / (2 * h)
            assert gw.view(-1)[i].item() == pytest.approx(num, rel=1e-4, abs=1e-6)
            checked += 1
    assert checked >= 8 and any(float(gw.abs().max()) > 1e-3 for gw in grads)


def test_srm_kernel_peak():
    s = torch.tensor([-1.0, 0.0, 7.0, 14.0], dtype=torch.float64)
    k = sp.srm_kernel(s, 7.0)
    assert k[0] == 0 and k[1] == 0 and k[2] == pytest.approx(1.0)
    assert sp.srm_kernel_grad(s, 7.0)[2] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
def test_xor_converges():
    t_in, target, labels = sp.xor_data()
    assert t_in.tolist()[0] == [6.0, 6.0, 0.0] and target.flatten().tolist() == [16, 10, 10, 16]
    g = torch.Generator().manual_seed(1)
    net = sp.SpikePropNet(sp.SpikePropConfig(w_init=(-0.05, 0.15), sign_constrained=False), g)
    r = sp.fit(net, (t_in, target, labels), lr=0.01, epochs=60, classify=sp.classify_xor,
               target_loss=1.0, generator=g)
    assert r.converged_at is not None and r.converged_at <= 60
    assert r.history[-1]["train_accuracy"] == 1.0


def test_iris_encoding_shape():
    pytest.importorskip("mlxtend")
    (tr_in, tr_t, tr_y), (te_in, _, te_y) = sp.iris_data(0)
    assert tr_in.shape == (75, 50) and te_in.shape == (75, 50)
    assert torch.bincount(tr_y).tolist() == [25, 25, 25]
    fired = tr_in[torch.isfinite(tr_in)]
    assert float(fired.min()) >= 0 and float(fired.max()) <= 10.0
    assert set(tr_t.unique().tolist()) == {12.0, 16.0}
