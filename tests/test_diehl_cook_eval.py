"""Fused frozen evaluation of the Diehl & Cook network (hebbtorch.kernels.diehl_cook_eval)
against the reference step loop: same input draws, same spike counts."""

from __future__ import annotations

import os

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
    from hebbtorch.kernels import threads
    from hebbtorch.kernels.threads import LARGE_LAYER, layer_threads, torch_threads

    before = torch.get_num_threads()
    assert layer_threads(N_INPUT * 100) == 1
    assert layer_threads(LARGE_LAYER) == before
    assert fused_eval.eval_threads(1) == 1
    monkeypatch.setattr(threads, "runnable_others", lambda: 0)  # a quiet machine
    assert fused_eval.eval_threads(1000) == min(before, len(os.sched_getaffinity(0)))
    monkeypatch.setattr(threads, "runnable_others", lambda: 64)  # every core taken
    assert fused_eval.eval_threads(1000) == 1
    monkeypatch.setenv("HEBBTORCH_EVAL_THREADS", "3")  # the override is taken as given
    assert fused_eval.eval_threads(1000) == 3
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == before
    monkeypatch.setenv("HEBBTORCH_EVAL_THREADS", "two")
    with pytest.raises(HebbtorchError, match="HEBBTORCH_EVAL_THREADS"):
        fused_eval.eval_threads(4)


def test_draws_at_the_edges_of_the_probability():
    """The kernels test u < p as the draw's 24 bits < ceil(p 2^24): exact also where p equals a
    draw (no spike), lies just above one (a spike), is 1 or more (always), tiny, zero, negative
    or NaN (never) -- against torch.rand's u < p on the same stream."""
    _needs_kernel()
    steps, n = 3, 64
    u = torch.rand(steps, 1, n, generator=torch.Generator().manual_seed(9))
    prob = u[1].clone()  # p = the draw of step 1: u < p false there
    prob[0, ::2] = torch.nextafter(u[1, 0, ::2], torch.tensor(2.0))  # just above: true
    prob[0, :4] = torch.tensor([1.0, 1.5, 2.0**-30, 0.0])
    prob[0, 4:7] = torch.tensor([-0.5, float("nan"), 2.0**-24])
    x = fused_eval.draw(prob, 9, steps)
    assert torch.equal(x, (u < prob).float())
    assert x[1, 0, 8:].sum() == (n - 8) // 2  # the just-above half spiked, the equal half not


def test_training_kernel_draws_the_reference_input():
    """The batch-1 kernel's own input draws (one attempt of present: presentation and rest)
    equal the kernel run on input_spikes' tensor of the same seed: counts, weights, theta,
    state and traces bit for bit."""
    from hebbtorch.kernels import diehl_cook as fused

    net = DiehlCookNetwork(20, generator=torch.Generator().manual_seed(0))
    require_fused(net, fused.use_fused)
    x, _ = make_separable(1, seed=6)
    pixels = x.reshape(1, N_INPUT).float()
    intensity = torch.tensor([3.0])
    nets = [DiehlCookNetwork(20, w_init=net.weight) for _ in range(2)]
    counts = [torch.zeros(1, 20), torch.zeros(1, 20)]
    with torch.inference_mode():
        for k in nets:
            k.normalize()
        fused.attempt(nets[0], fused_eval.input_probability(pixels, intensity, 0.5), 77, True,
                      counts[0])
        spikes = input_spikes(pixels, intensity, 700, 0.5, torch.Generator().manual_seed(77))
        fused.run(nets[1], spikes, 700, True, counts[1])
        fused.run(nets[1], None, 300, True, None, rest=True)
    assert counts[0].sum() > 0 and torch.equal(counts[0], counts[1])
    a, b = nets
    for s, t in ((a.weight, b.weight), (a.theta, b.theta), *zip(a.state, b.state, strict=True),
                 *zip((*a.learner.pre, *a.learner.post), (*b.learner.pre, *b.learner.post),
                      strict=True)):
        assert torch.equal(s, t)


def test_operators_pass_opcheck():
    """The schemas (which arguments each op mutates) and fake implementations agree with the
    C++ (torch.library.opcheck)."""
    _needs_kernel()
    prob = torch.rand(2, N_INPUT, generator=torch.Generator().manual_seed(1)) * 0.05
    torch.library.opcheck(torch.ops.hebbtorch.dc_draw.default, (prob, 5, 4))
    net = _trained(6, 2, "fused")
    from hebbtorch.kernels import diehl_cook_ops as ops

    state = [t.clone() for t in net.state]
    args = (prob, 5, 10, 20, net.weight, net.thresholds(), *state, *ops.population_args(net),
            torch.zeros(2, 6), 1)
    torch.library.opcheck(torch.ops.hebbtorch.dc_eval.default, args,
                          test_utils=("test_schema", "test_faketensor"))
    from hebbtorch.kernels import diehl_cook as fused

    online = _trained(6, 1, "fused")  # batch 1, learning: every mutable argument moves
    traces, rule_f, rule_i, gb_t, gb_f, gb_i = fused.rule_args(online)
    args = (None, prob[:1].contiguous(), 5, 200, 20, online.weight.clone(),
            online.theta.clone(), online.thresholds(), *[t.clone() for t in online.state],
            *ops.population_args(online), 0.05, torch.zeros(1, 6), True, traces, rule_f,
            rule_i, gb_t, gb_f, gb_i, 1)
    torch.library.opcheck(torch.ops.hebbtorch.dc_run.default, args,
                          test_utils=("test_schema", "test_faketensor"))


def test_runnable_others_reads_the_running_count(tmp_path):
    """/proc/loadavg's fourth field counts runnable threads, the caller included; a missing or
    malformed file gives 0 (no other load assumed)."""
    from hebbtorch.kernels.threads import runnable_others

    f = tmp_path / "loadavg"
    f.write_text("0.52 0.41 0.30 3/211 12345\n")
    assert runnable_others(str(f)) == 2
    f.write_text("0.00 0.00 0.00 1/90 7\n")
    assert runnable_others(str(f)) == 0
    f.write_text("garbage\n")
    assert runnable_others(str(f)) == 0
    assert runnable_others(str(tmp_path / "missing")) == 0
