"""Fused frozen evaluation of the Diehl & Cook network (hebbtorch.kernels.diehl_cook_eval)
against the reference step loop: same input draws, same spike counts."""

from __future__ import annotations

import pytest
import torch

from hebbtorch.kernels import diehl_cook_eval as fused_eval
from hebbtorch.learning.unsupervised import respond
from hebbtorch.networks.diehl_cook import N_INPUT, DiehlCookNetwork, input_spikes
from tests.conftest import make_separable, require_fused


def _needs_kernel() -> None:
    require_fused(DiehlCookNetwork(2), fused_eval.use_fused, True)


@pytest.mark.parametrize("seed", [0, 7, 2**32 + 5, 123_456_789_012])
def test_kernel_draws_the_reference_input(seed):
    """The kernel's Poisson input is torch.rand's stream of the same seed, bit for bit, for
    lanes at several intensities (0: a lane that rests during a retry)."""
    _needs_kernel()
    g = torch.Generator().manual_seed(1)
    pixels = (torch.rand(5, N_INPUT, generator=g) * 255) * (torch.rand(5, N_INPUT, generator=g)
                                                            > 0.5)
    intensity = torch.tensor([2.0, 3.0, 0.0, 2.0, 7.0])
    ref = input_spikes(pixels, intensity, 30, 0.5, torch.Generator().manual_seed(seed))
    prob = fused_eval.input_probability(pixels, intensity, 0.5)
    assert ref.sum() > 100
    assert torch.equal(fused_eval.draw(prob, seed, 30), ref)


def _trained(n: int, batch: int, backend: str, scale: float = 1.0) -> DiehlCookNetwork:
    """A network with a few images learned (so receptive fields and theta differ per neuron)."""
    x, _ = make_separable(6, seed=3)
    net = DiehlCookNetwork(n, generator=torch.Generator().manual_seed(0))
    for k, img in enumerate(x.reshape(-1, N_INPUT).float()):
        net.present(img[None], learn=True, seed=k)
    ev = DiehlCookNetwork(n, batch=batch, w_init=net.weight * scale, backend=backend)
    ev.theta.copy_(net.theta)
    return ev


@pytest.mark.parametrize(("batch", "images", "scale"), [(1, 3, 1.0), (6, 8, 1.0), (3, 4, 0.5)])
def test_fused_evaluation_gives_the_reference_counts(batch, images, scale):
    """Spike counts (and the intensities used) of the frozen evaluation equal the reference
    loop's, image for image, over chunks whose state carries over (``respond``; the last chunk
    padded); ``scale`` 0.5 weakens the weights so that images need retries (lanes rest while
    others retry).
    Equality, not a tolerance: the two differ only in the order of the input drive's sum,
    which moves a spike only if a membrane lands within float32 rounding of its threshold."""
    _needs_kernel()
    x, _ = make_separable(images, seed=4)
    x = x.reshape(-1, N_INPUT).float()
    runs = {}
    for backend in ("reference", "fused"):
        net = _trained(12, batch, backend, scale)
        retries = []
        orig = net.present

        def spy(*a, _orig=orig, _r=retries, **k):
            counts, used = _orig(*a, **k)
            _r.append(used)
            return counts, used

        net.present = spy
        runs[backend] = (respond(net, x, seed=11), torch.cat(retries), net.state)
    (c_ref, u_ref, s_ref), (c_fused, u_fused, s_fused) = runs["reference"], runs["fused"]
    assert c_ref.sum() > 0
    assert torch.equal(c_ref, c_fused)
    assert torch.equal(u_ref, u_fused)
    if scale < 1:
        assert (u_ref > 2).any()  # the retry path ran
    for a, b in zip(s_ref, s_fused, strict=True):  # the state after the last rest
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


def test_fused_evaluation_is_the_same_on_any_thread_count(monkeypatch):
    """Lanes are independent: 1 or 3 threads give the same counts and state, bit for bit."""
    _needs_kernel()
    x, _ = make_separable(9, seed=5)
    x = x.reshape(-1, N_INPUT).float()
    out = []
    for threads in ("1", "3"):
        monkeypatch.setenv("HEBBTORCH_EVAL_THREADS", threads)
        net = _trained(10, 9, "fused")
        out.append((respond(net, x, seed=2), net.state))
    assert torch.equal(out[0][0], out[1][0])
    for a, b in zip(out[0][1], out[1][1], strict=True):
        assert torch.equal(a, b)


def test_thread_choices(monkeypatch):
    """Small fused training layers run on one thread, large ones on torch's count; the
    evaluation takes one thread per image up to torch's count; torch_threads restores the pool
    even when its block raises; a bad override is one clear error."""
    from hebbtorch.errors import HebbtorchError
    from hebbtorch.kernels.threads import LARGE_LAYER, layer_threads, torch_threads

    before = torch.get_num_threads()
    assert layer_threads(N_INPUT * 100) == 1
    assert layer_threads(LARGE_LAYER) == before
    assert fused_eval.eval_threads(1) == 1
    assert fused_eval.eval_threads(1000) == before
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == before
    monkeypatch.setenv("HEBBTORCH_EVAL_THREADS", "two")
    with pytest.raises(HebbtorchError, match="HEBBTORCH_EVAL_THREADS"):
        fused_eval.eval_threads(4)
