"""Readouts of the conv-STDP features: full-batch logistic / squared-hinge fits, standardisation,
pixel-shift augmentation, and their use in run_experiment."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.conv_stdp_readout import (
    LOSSES,
    accuracy,
    fit_readout_lbfgs,
    pixel_shifts,
    readout_loss,
    shift_images,
)


def _blobs(n: int, dim: int, classes: int, seed: int, margin: float = 2.0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randn(n, dim, generator=g) * 0.3
    x[:, :classes] += torch.nn.functional.one_hot(y, classes) * margin
    return x, y


@pytest.mark.parametrize("loss", LOSSES)
def test_separates_a_linearly_separable_set(loss):
    x, y = _blobs(150, 20, 4, seed=1)
    assert accuracy(fit_readout_lbfgs(x, y, loss=loss, l2=1e-3), x, y) == 1.0


@pytest.mark.parametrize("loss", LOSSES)
def test_fit_is_a_stationary_point_of_its_objective(loss):
    """The returned weights zero the gradient of mean loss + l2/2 |W|^2 (evaluated in float64)
    to float32 precision: its norm falls by >= 1e4 from the start (zero weights); a fit
    stopped after 2 iterations does not come close."""
    x, y = _blobs(200, 12, 3, seed=2, margin=0.7)  # overlapping classes: active hinges
    l2 = 1e-2

    def grad_norm(r):
        w = r.weight.double().t().clone().requires_grad_(True)
        b = r.bias.double().clone().requires_grad_(True)
        obj = readout_loss(x.double() @ w.t() + b, y, loss) + 0.5 * l2 * (w * w).sum()
        gw, gb = torch.autograd.grad(obj, (w, b))
        return float(torch.cat([gw.flatten(), gb]).norm())

    g0 = grad_norm(fit_readout_lbfgs(x, y, l2=l2, loss=loss, max_iter=0))
    g_end = grad_norm(fit_readout_lbfgs(x, y, l2=l2, loss=loss, max_iter=500))
    g_2 = grad_norm(fit_readout_lbfgs(x, y, l2=l2, loss=loss, max_iter=2))
    print(loss, g0, g_2, g_end)
    assert g_end < 1e-4 * g0 and g_2 > 1e-2 * g0


def test_squared_hinge_equals_the_closed_form_when_every_margin_is_active():
    """With targets far beyond reach (every hinge active), the squared hinge is least squares
    on +-1 targets: one class pair, features centred, solution (X'X/N*2 + l2 I) w = 2 X'y/N."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(100, 5, generator=g, dtype=torch.float64) * 0.01
    x -= x.mean(0)
    y = torch.randint(0, 2, (100,), generator=g)
    l2 = 1.0
    r = fit_readout_lbfgs(x.float(), y, l2=l2, loss="squared_hinge", max_iter=200)
    t = torch.nn.functional.one_hot(y, 2).double() * 2 - 1
    n = x.shape[0]
    w = torch.linalg.solve(2 * x.t() @ x / n + l2 * torch.eye(5, dtype=torch.float64),
                           2 * x.t() @ (t - t.mean(0)) / n)
    assert float((t * (x @ r.weight.double() + r.bias.double())).max()) < 1  # all active
    assert torch.allclose(r.weight.double(), w, atol=1e-5)
    assert torch.allclose(r.bias.double(), t.mean(0), atol=1e-5)


def test_bad_readout_input_is_one_clear_error():
    x, y = _blobs(20, 4, 2, seed=0)
    for kw, msg in (({"loss": "hinge"}, "loss must be one of"), ({"l2": -1.0}, "l2 must be >= 0")):
        with pytest.raises(HebbtorchError, match=msg):
            fit_readout_lbfgs(x, y, **kw)
    with pytest.raises(HebbtorchError, match="must match"):
        fit_readout_lbfgs(x, y[:3])
    with pytest.raises(HebbtorchError, match="smaller than the image"):
        shift_images(torch.zeros(1, 4, 4), 4, 0)
    with pytest.raises(HebbtorchError, match="shift distance must be >= 0"):
        pixel_shifts(-1)


@settings(max_examples=30, deadline=None)
@given(st.integers(-3, 3), st.integers(-3, 3), st.integers(0, 2**31 - 1))
def test_shift_equals_roll_on_a_blank_border(dy, dx, seed):
    img = torch.zeros(2, 12, 12)
    img[:, 3:9, 3:9] = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(shift_images(img, dy, dx), torch.roll(img, (dy, dx), (1, 2)))
    assert torch.equal(shift_images(shift_images(img, dy, dx), -dy, -dx), img)


def test_pixel_shifts():
    assert pixel_shifts(0) == ()
    assert sorted(pixel_shifts(2)) == [(-2, 0), (0, -2), (0, 2), (2, 0)]


def test_run_experiment_fits_shifted_copies_and_validates_on_plain_images():
    from hebbtorch.learning.conv_stdp import ConvSTDPConfig, run_experiment
    from hebbtorch.networks.conv_stdp import ConvLayerParameters, ConvSTDPNet, ConvSTDPParameters

    g = torch.Generator().manual_seed(0)
    imgs = torch.zeros(50, 16, 16)
    imgs[:, 4:12, 6:10] = torch.rand(50, 8, 4, generator=g)
    y = torch.randint(0, 2, (50,), generator=g)
    tr, te = SimpleNamespace(images=imgs[:40], labels=y[:40]), SimpleNamespace(
        images=imgs[40:], labels=y[40:])
    p = ConvSTDPParameters(num_steps=6, layers=(
        ConvLayerParameters(2, 4, 5, threshold=4.0, k=2, radius=2, pad=2, pool=(4, 4, 0)),))
    for shift, loss in ((1, "squared_hinge"), (0, "logistic")):
        cfg = ConvSTDPConfig(layer_images=(20,), features=("potential",), readout_iter=5,
                             readout_shift=shift, readout_loss=loss)
        r = run_experiment(ConvSTDPNet(p, generator=torch.Generator().manual_seed(1)), cfg,
                           tr, te)["readouts"]["potential"]
        assert r["fit_rows"] == 40 * (1 + 4 * shift) and r["validation_images"] == 8
        assert r["loss"] == loss and r["shift"] == shift
    for kw, msg in (({"readout_loss": "svm"}, "readout_loss must be one of"),
                    ({"readout_shift": -1}, "shift distance must be >= 0")):
        with pytest.raises(HebbtorchError, match=msg):
            run_experiment(ConvSTDPNet(p), ConvSTDPConfig(layer_images=(20,), **kw), tr, te)


def test_cli_rejects_a_negative_shift_in_one_line(tmp_path, capsys):
    from hebbtorch.cli.main import main

    assert main(["conv-stdp", "--readout-shift", "-1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hebbtorch conv-stdp: error: shift distance must be >= 0, got -1"]
