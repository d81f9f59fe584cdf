"""Approximate STDP (hebbtorch.learning.astdp): derivatives, the STDP contrast, learning and
generation on tiny problems, and the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.astdp import (
    ASTDPNetwork,
    RateCurve,
    finite_difference,
    make_config,
    simulate_rates,
    stdp_contrast,
    stdp_scale,
)
from hebbtorch.plasticity import PairSTDPParameters, pair_stdp_step


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread is several times faster on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _sigmoid_rate(i: torch.Tensor) -> torch.Tensor:
    return 0.8 * torch.sigmoid(2.0 * (i - 0.5))


def test_finite_difference_matches_autograd_on_smooth_rate():
    x = torch.linspace(-3, 3, 101, dtype=torch.float64, requires_grad=True)
    y = _sigmoid_rate(x)
    (auto,) = torch.autograd.grad(y.sum(), x)
    num = finite_difference(_sigmoid_rate, x.detach(), eps=1e-4)
    torch.testing.assert_close(num, auto, atol=1e-7, rtol=1e-6)


def test_rate_curve_derivative_matches_autograd():
    curve = RateCurve(rate_fn=_sigmoid_rate, lo=-3.0, hi=4.0, points=701)
    x = torch.linspace(-2.5, 3.5, 57, requires_grad=True)
    (auto,) = torch.autograd.grad(_sigmoid_rate(x).sum(), x)
    torch.testing.assert_close(curve.derivative(x.detach()), auto, atol=2e-4, rtol=1e-3)
    torch.testing.assert_close(curve.rate(x.detach()), _sigmoid_rate(x).detach(), atol=1e-4,
                               rtol=1e-4)
    assert float(curve.derivative(torch.tensor([10.0]))) == 0.0  # outside the table


def test_perturbed_simulation_derivative_follows_lif_curve():
    cfg = make_config((4, 3, 2), noise=0.3)
    curve = RateCurve(cfg.lif(), cfg.noise)
    g = torch.Generator().manual_seed(0)
    cur = torch.full((1200, 1, 5), 0.0) + torch.tensor([0.0, 0.2, 0.4, 0.6, 1.0])
    nz = 0.3 * torch.randn(cur.shape, generator=g)
    num = finite_difference(lambda i: simulate_rates(i, nz, cfg.lif()).mean(0), cur, 0.1)[0]
    torch.testing.assert_close(num, curve.derivative(cur[0, 0]), atol=0.08, rtol=0.2)
    assert bool((curve.slopes >= 0).all())


def _dense(u):
    """An Update term as a full ``[batch, pre, post]`` tensor (it may be a low-rank pair)."""
    if isinstance(u, tuple):
        a, b = u
        return a.unsqueeze(2) * b.unsqueeze(1)
    return u


def test_stdp_contrast_equals_summed_pair_stdp_steps():
    g = torch.Generator().manual_seed(1)
    T, B, P, Q = 12, 3, 4, 5
    pre = torch.bernoulli(torch.full((T, B, P), 0.3), generator=g)
    post_n = torch.bernoulli(torch.full((T, B, Q), 0.4), generator=g)
    post_f = torch.bernoulli(torch.full((T, B, Q), 0.2), generator=g)
    p = PairSTDPParameters(tau_plus=4.0, tau_minus=6.0, A_plus=1.0, A_minus=0.7)

    def total(post):
        x, y = torch.zeros(B, P), torch.zeros(B, Q)
        acc = torch.zeros(P, Q)
        for t in range(T):
            x, y = x * math.exp(-1 / p.tau_plus), y * math.exp(-1 / p.tau_minus)
            up = pair_stdp_step(pre[t], post[t], x, y, p)
            if up.ltp is not None:
                acc += _dense(up.ltp).sum(0)
            if up.ltd is not None:
                acc -= _dense(up.ltd).sum(0)
            x, y = x + pre[t], y + post[t]
        return acc

    torch.testing.assert_close(stdp_contrast(pre, post_n, post_f, p), total(post_n) - total(post_f))


def test_stdp_scale_is_the_mean_change_for_independent_trains():
    g = torch.Generator().manual_seed(2)
    p = PairSTDPParameters(5.0, 5.0, 1.0, 0.5)
    T, rho, nu = 4000, 0.3, 0.2
    pre = torch.bernoulli(torch.full((T, 1, 20), rho), generator=g)
    post = torch.bernoulli(torch.full((T, 1, 20), nu), generator=g)
    dw = stdp_contrast(pre, post, torch.zeros_like(post), p) / T
    assert abs(float(dw.mean()) / (stdp_scale(p) * rho * nu) - 1) < 0.05


def _toy(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    protos = torch.zeros(2, 16)
    protos[0, :8] = 1.0
    protos[1, 8:] = 1.0
    y = torch.randint(0, 2, (n,), generator=g)
    x = (protos[y] * (0.7 + 0.3 * torch.rand(n, 16, generator=g))).clamp(0, 1)
    return x, y, protos


def _train_toy(mode: str, batches: int = 15):
    g = torch.Generator().manual_seed(0)
    net = ASTDPNetwork(make_config((16, 12, 2), steps=16, input_rate=0.6, mode=mode, lr=1.0,
                                   gen_lr=1.0), seed=0)
    x, y, protos = _toy(32, g)
    before = net.train_batch(x, y, g)
    for _ in range(batches):
        xb, yb, _ = _toy(32, g)
        net.train_batch(xb, yb, g)
    after = net.train_batch(x, y, g)
    return net, before, after, protos, g


@pytest.fixture(scope="module")
def supervised_toy(_one_thread):
    return _train_toy("supervised")


def test_supervised_learning_reduces_label_error_on_separable_problem(supervised_toy):
    net, before, after, _, g = supervised_toy
    assert after["label_mse"] < 0.5 * before["label_mse"]
    xt, yt, _ = _toy(200, g)
    acc = float((net.predict(xt, g).argmax(1) == yt).float().mean())
    assert acc > 0.95


def test_unsupervised_mode_reduces_reconstruction_error():
    net, before, after, _, g = _train_toy("unsupervised")
    assert after["recon_mse"] < 0.6 * before["recon_mse"]


def test_generate_shapes_and_label_conditioning(supervised_toy):
    net, _, _, protos, g = supervised_toy
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    img = net.generate(labels, g)
    assert img.shape == (6, 16)
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    m0, m1 = img[:3].mean(0), img[3:].mean(0)
    assert float((m0 - m1).abs().mean()) > 0.2
    # each label's image resembles its own prototype more than the other one
    assert float((m0 * protos[0]).sum()) > float((m0 * protos[1]).sum())
    assert float((m1 * protos[1]).sum()) > float((m1 * protos[0]).sum())
    with pytest.raises(HebbtorchError):
        net.generate(torch.tensor([2]))


def test_config_validation():
    with pytest.raises(HebbtorchError, match="mode"):
        make_config((4, 2), mode="both")
    with pytest.raises(HebbtorchError, match="net-potentiating"):
        make_config((4, 2), A_plus=0.1, A_minus=1.0)
    with pytest.raises(HebbtorchError, match="sizes"):
        make_config((4,))
    net = ASTDPNetwork(make_config((4, 3, 2)))
    with pytest.raises(HebbtorchError, match="pixels"):
        net.predict(torch.zeros(2, 5))
    with pytest.raises(HebbtorchError, match="needs labels"):
        net.train_batch(torch.zeros(2, 4), None)


def test_cli_train_and_generate(tmp_path):
    from hebbtorch.cli.main import main

    run = tmp_path / "run"
    rc = main(["astdp", "train", "--dataset", "mnist-5k", "--train-images", "100", "--test-images",
               "50", "--epochs", "1", "--hidden", "8", "--steps", "4", "--per-class", "1",
               "--eval-samples", "50", "--quiet", "--out", str(run)])
    assert rc == 0
    for name in ("metrics.json", "learning_curve.png", "checkpoint.pt", "generated.png"):
        assert (run / name).exists()
    m = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= m["final"]["test_accuracy"] <= 1.0 and m["final"]["test_samples"] == 50
    rc = main(["astdp", "generate", "--run", str(run), "--per-class", "2",
               "--out", str(tmp_path / "gen")])
    assert rc == 0
    assert (tmp_path / "gen" / "generated.png").exists()
    assert main(["astdp", "generate", "--run", str(tmp_path / "missing")]) == 2
