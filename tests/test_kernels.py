"""The fused CPU LIF, ALIF and refractory kernels against the reference loops, backend selection,
chunked BPTT and its memory."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import hebbtorch.kernels.alif as kalif
import hebbtorch.kernels.lif as klif
from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import build, cpu, dispatch
from hebbtorch.kernels.chunked import chunked_bptt
from hebbtorch.neurons.alif import ALIF, ALIFParameters, ALIFState, alif_sequence
from hebbtorch.neurons.lif import (
    LIF,
    LIFOutput,
    LIFParameters,
    LIFState,
    lif_sequence,
    lif_step,
)
from hebbtorch.neurons.refractory import (
    RefractoryNeuron,
    RefractoryParameters,
    RefractoryState,
    refractory_sequence,
)
from hebbtorch.neurons.surrogate import SURROGATES


def require_kernels() -> None:
    """Skip only where there is no C++ compiler: where there is one, a kernel that does not build
    fails the test with the compiler's message (a skip would hide it, and users would silently
    get the reference loop)."""
    if not build.compiler_available():
        pytest.skip("no C++ compiler for the kernels")
    cpu.library()  # raises HebbtorchError naming the cause


@pytest.fixture(autouse=True)
def _kernels_built() -> None:
    require_kernels()


RTOL = 1e-5  # the bar for gradients in fp32


def run_both(x, p, state=None, seed=1, plain_sum=False):
    """Forward both backends on the same inputs; backprop one random mix of all outputs (or
    their plain sum, whose grads arrive broadcast over time). Returns
    [(output, grads wrt (x, beta, threshold, state.v)) for reference, fused]."""
    results = []
    for backend in ("reference", "fused"):
        xi = x.detach().clone().requires_grad_()
        leaves = [xi] + [t for t in (p.beta, p.threshold) if isinstance(t, torch.Tensor)]
        s0 = None
        if state is not None:
            s0 = LIFState(state.v.detach().clone().requires_grad_(), state.refrac)
            leaves.append(s0.v)
        out = lif_sequence(xi, p, s0, backend=backend)
        results.append((out, torch.autograd.grad(_loss(out, seed, plain_sum), leaves)))
    return results


def _loss(out: LIFOutput, seed: int, plain_sum: bool = False) -> torch.Tensor:
    """One random mix of all outputs (or their plain sum)."""
    g = torch.Generator().manual_seed(seed)
    w = [1.0 if plain_sum else torch.randn(t.shape, generator=g, dtype=t.dtype)
         for t in (out.spikes, out.v)]
    return (out.spikes * w[0]).sum() + 0.1 * (out.v * w[1]).sum() + out.state.v.sum()


def scalar_gradient_terms(x, p, state, seed=1) -> tuple[float, float]:
    """Sum of |terms| of the scalar beta and threshold gradients of :func:`run_both`'s loss:
    the reference loop run again with its own beta and threshold leaf per step and element,
    whose gradients are the T * B * N contributions the scalar gradients add up."""
    T = x.shape[0]
    leaves = [torch.full(x.shape[1:], float(torch.as_tensor(v).detach()), requires_grad=True)
              for v in (p.beta, p.threshold) for _ in range(T)]
    st, spikes, vs = state, [], []
    for t in range(T):
        s, v, st = lif_step(x[t], st, p._replace(beta=leaves[t], threshold=leaves[T + t]))
        spikes.append(s)
        vs.append(v)
    grads = torch.autograd.grad(_loss(LIFOutput(torch.stack(spikes), torch.stack(vs), st), seed),
                                leaves)
    return (float(sum(g.abs().sum() for g in grads[:T])),
            float(sum(g.abs().sum() for g in grads[T:])))


def assert_same(results, scalar_atol: dict[int, float] | None = None):
    """Spikes and potentials equal; gradients within RTOL of their scale, or for the scalar
    gradients of ``scalar_atol`` (index into the gradients: absolute tolerance) within that."""
    (ref, g_ref), (fused, g_fused) = results
    assert torch.equal(ref.spikes, fused.spikes)  # bit-identical spikes
    assert torch.equal(ref.v, fused.v)
    assert torch.equal(ref.state.v, fused.state.v)
    assert torch.equal(ref.state.refrac, fused.state.refrac)
    for i, (a, b) in enumerate(zip(g_fused, g_ref, strict=True)):
        # relative to the gradient's scale: single elements can cancel to ~0 in either order
        atol = max(RTOL * float(b.abs().max()), (scalar_atol or {}).get(i, 0.0))
        torch.testing.assert_close(a, b, rtol=RTOL, atol=atol)


@pytest.mark.parametrize(
    "reset, refractory, surrogate, detach",
    list(itertools.product(("subtract", "zero"), (0, 2), sorted(SURROGATES), (False, True))),
)
def test_fused_matches_reference_every_option(reset, refractory, surrogate, detach):
    g = torch.Generator().manual_seed(0)
    T, B, N = 40, 3, 37  # N not a multiple of the vector width or of the kernel's block
    x = torch.randn(T, B, N, generator=g) * 0.7 + 0.3
    beta = torch.rand(N, generator=g).requires_grad_()  # per-neuron, learnable
    thr = (torch.rand(N, generator=g) + 0.5).requires_grad_()
    p = LIFParameters(beta, thr, reset, refractory, surrogate, None, detach)
    results = run_both(x, p)
    assert 0.05 < results[0][0].spikes.mean() < 0.6  # the test exercises spiking and silence
    assert_same(results)


def test_fused_matches_reference_across_kernel_blocks_and_threads():
    # M = 2 * 700 neurons spans several 512-neuron blocks, split over the threads
    g = torch.Generator().manual_seed(3)
    x = torch.randn(30, 2, 700, generator=g)
    p = LIFParameters(beta=torch.tensor(0.8, requires_grad=True), threshold=0.5)
    state = LIFState(torch.randn(2, 700, generator=g), torch.zeros(2, 700))
    assert_same(run_both(x, p, state))
    assert_same(run_both(x, p, state, plain_sum=True))


def test_fused_rejects_nonfinite_currents():
    x = torch.randn(6, 2, 3)
    x[4, 1, 2] = float("nan")
    x[1, 0, 0] = float("inf")
    with pytest.raises(HebbtorchError, match="2 NaN or infinite"):
        lif_sequence(x, LIFParameters(), backend="fused")


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(1, 30), B=st.integers(1, 4), N=st.integers(1, 40),
    beta=st.floats(0.0, 1.0), threshold=st.floats(0.05, 3.0), scale=st.floats(0.1, 3.0),
    reset=st.sampled_from(("subtract", "zero")), refractory=st.integers(0, 3),
    seed=st.integers(0, 2**31 - 1),
)
# a case that cancels: the beta gradient 0.0897 from terms whose sum of |terms| is 80.2; the
# backends differ by 2.1e-5 of the result (beyond rtol + atol = 2 RTOL of it) and by 0.9 % of
# the bound below
@example(T=3, B=2, N=34, beta=0.4765823711876981, threshold=0.7614531615708791, scale=1.1,
         reset="subtract", refractory=0, seed=3)
def test_fused_matches_reference_property(T, B, N, beta, threshold, scale, reset, refractory,
                                          seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, N, generator=g) * scale
    beta_t = torch.tensor(beta, requires_grad=True)
    thr_t = torch.tensor(threshold, requires_grad=True)
    state = LIFState(torch.rand(B, N, generator=g), torch.zeros(B, N))
    p = LIFParameters(beta_t, thr_t, reset, refractory)
    # The scalar beta and threshold gradients add T * B * N terms that can cancel to far below
    # their magnitude, in another order in each backend (reference: over the neurons per step,
    # then over time; kernel: over time per neuron, then over the neurons). Their difference
    # is bounded by the summation error, at most ~(T + log2(B N)) * eps * sum|terms| (Higham,
    # Accuracy and Stability of Numerical Algorithms, 2002, ch. 4), with margin for the terms'
    # own rounding: not by a fraction of the (cancelled) result.
    bound = 2 * (T + math.log2(B * N) + 2) * torch.finfo(torch.float32).eps
    terms = scalar_gradient_terms(x, p, state, seed)
    assert_same(run_both(x, p, state, seed), {1: bound * terms[0], 2: bound * terms[1]})


def test_fused_float64_and_split_sequence_continues_exactly():
    # running [0, T) in two halves with the state handed over equals one run
    x = torch.randn(50, 4, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    p = LIFParameters(beta=0.85, threshold=0.6, refractory_steps=2)
    whole = lif_sequence(x, p, backend="fused")
    first = lif_sequence(x[:20], p, backend="fused")
    second = lif_sequence(x[20:], p, first.state, backend="fused")
    assert torch.equal(torch.cat([first.spikes, second.spikes]), whole.spikes)
    assert torch.equal(second.state.v, whole.state.v)
    assert torch.equal(whole.spikes, lif_sequence(x, p, backend="reference").spikes)


def test_lif_module_selects_fused_automatically_and_reference_on_request():
    x = torch.randn(10, 2, 5, requires_grad=True)
    auto = LIF(0.9, learn_beta=True, shape=(5,))(x)
    assert "hebbtorch_lif_forward" in type(auto.spikes.grad_fn).__name__
    ref = LIF(0.9, learn_beta=True, shape=(5,), backend="reference")(x)
    assert "hebbtorch" not in type(ref.spikes.grad_fn).__name__
    assert torch.equal(auto.spikes, ref.spikes)
    with pytest.raises(HebbtorchError, match="backend"):
        LIF(0.9, backend="triton")


def test_environment_forces_reference(monkeypatch):
    monkeypatch.setenv("HEBBTORCH_BACKEND", "reference")
    out = lif_sequence(torch.randn(5, 2, 3, requires_grad=True), LIFParameters())
    assert "hebbtorch" not in type(out.spikes.grad_fn).__name__


def test_unsupported_calls_fall_back_or_raise():
    x = torch.randn(5, 2, 3)
    p = LIFParameters(beta=torch.full((3,), 0.9, dtype=torch.float64))  # promotes the state
    # auto: the reference loop, whose state takes torch's promotion (fp64)
    assert lif_sequence(x, p).spikes.dtype == torch.float64
    with pytest.raises(HebbtorchError, match="dtype"):
        lif_sequence(x, p, backend="fused")


def test_failed_build_warns_once_and_uses_reference(monkeypatch):
    monkeypatch.setattr(cpu.library, "state",
                        {"error": HebbtorchError("no compiler (simulated)")})
    monkeypatch.setattr(dispatch, "warned", set())
    x = torch.randn(5, 2, 3, requires_grad=True)
    with pytest.warns(RuntimeWarning, match="simulated"):
        out = lif_sequence(x, LIFParameters())
    assert "hebbtorch" not in type(out.spikes.grad_fn).__name__
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call must not warn again
        lif_sequence(x, LIFParameters())
    with pytest.raises(HebbtorchError, match="simulated"):
        lif_sequence(x, LIFParameters(), backend="fused")


def test_custom_op_registration_opcheck():
    # schema, fake (meta) implementation and autograd registration, as torch.library checks them
    # (its torch.compile check, test_aot_dispatch_dynamic, is left out: ~10 s on 2 cores)
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    x = torch.randn(6, 2, 4, requires_grad=True)
    per = [torch.full((2, 4), 0.9), torch.ones(2, 4), torch.zeros(2, 4), torch.zeros(2, 4)]
    torch.library.opcheck(klif.lif_forward, (x, *per, 0, 1, 0, 25.0, False), test_utils=utils)
    rho = torch.full((2, 4), 0.95)
    state = [torch.zeros(2, 4, requires_grad=True) for _ in range(3)]
    torch.library.opcheck(kalif.alif_forward, (x, per[0], rho, 1 - rho, per[1], 1.8, *state, 0, 0,
                                               25.0, False), test_utils=utils)


def _linear_lif(lin, lif):
    def block(x, state):
        out = lif(lin(x), state)
        return out.spikes, out.state

    return block


@pytest.mark.parametrize("chunk", [1, 7, 30])
def test_chunked_bptt_equals_plain_bptt(chunk):
    torch.manual_seed(0)
    lin, lif = torch.nn.Linear(6, 5), LIF(0.9, learn_beta=True, shape=(5,))
    x = torch.randn(30, 3, 6)
    outs, grads = [], []
    for c in (None, chunk):
        block = _linear_lif(lin, lif)
        out, state = block(x, None) if c is None else chunked_bptt(block, x, None, c)
        (out * torch.arange(30.0).view(30, 1, 1)).sum().add(state.v.sum()).backward()
        outs.append(out)
        grads.append([p.grad.clone() for p in (lin.weight, lin.bias, lif.beta)])
        lin.zero_grad()
        lif.zero_grad()
    assert torch.equal(*outs)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=1e-6)
    with torch.no_grad():
        assert torch.equal(chunked_bptt(_linear_lif(lin, lif), x, None, chunk)[0], outs[0])
    with pytest.raises(HebbtorchError, match="chunk"):
        chunked_bptt(_linear_lif(lin, lif), x, None, 0)


MEMORY_SCRIPT = textwrap.dedent("""
    import re, sys, torch
    from hebbtorch.kernels.chunked import chunked_bptt
    from hebbtorch.neurons.lif import LIF
    def rss(key):
        return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read())[1])
    mode, T = sys.argv[1], int(sys.argv[2])
    lin = torch.nn.Linear(128, 128)
    lif = LIF(0.9, backend="reference" if mode == "plain" else "fused")
    x = torch.randn(T, 16, 128)
    def block(xc, s):
        o = lif(lin(xc), s)
        return o.spikes, o.state
    block(x[:2], None)[0].sum().backward()  # warm-up: library load, first allocations
    if mode == "chunked":  # and torch.utils.checkpoint's one-time import of torch._dynamo
        chunked_bptt(block, x[:2], None, 32)[0].sum().backward()
    base = rss("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM)
    out = chunked_bptt(block, x, None, 32)[0] if mode == "chunked" else block(x, None)[0]
    loss = out.sum()
    del out
    loss.backward()
    print(rss("VmHWM") - base)
""")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_lean_bptt_peak_memory_at_1000_steps():
    # peak resident memory of forward + backward above the warm baseline, each in a fresh
    # process; a small mmap threshold makes freed tensors leave the resident set at once
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}

    def peak(mode: str, T: int) -> int:
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, mode, str(T)], env=env,
                             capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    plain, fused, chunked = (peak(m, 1000) for m in ("plain", "fused", "chunked"))
    assert fused <= 0.4 * plain
    assert chunked <= 0.4 * plain
    # growth with T: chunked adds far less per extra step than plain BPTT
    assert peak("chunked", 2000) - chunked < 0.4 * (peak("plain", 2000) - plain)


# ------------------------------------------------------------------------------------------ ALIF


@pytest.mark.parametrize(
    "reset, surrogate, detach",
    list(itertools.product(("subtract", "zero"), sorted(SURROGATES), (False, True))),
)
def test_fused_alif_matches_reference(reset, surrogate, detach):
    g = torch.Generator().manual_seed(0)
    T, B, N = 60, 3, 37
    x = torch.randn(T, B, N, generator=g) * 0.8 + 0.3
    p = ALIFParameters(beta=0.9, rho=torch.rand(N, generator=g) * 0.2 + 0.8, threshold=0.8,
                       reset=reset, surrogate=surrogate, detach_reset=detach)
    state = [torch.rand(B, N, generator=g), torch.rand(B, N, generator=g) * 0.3,
             (torch.rand(B, N, generator=g) > 0.5).float()]
    results = []
    for backend in ("reference", "fused"):
        xi = x.clone().requires_grad_()
        s0 = ALIFState(*(t.clone().requires_grad_() for t in state))
        out = alif_sequence(xi, p, s0, backend=backend)
        w = torch.Generator().manual_seed(1)
        loss = sum((y * torch.randn(y.shape, generator=w)).sum()
                   for y in (out.spikes, out.v, out.threshold, *out.state))
        results.append((out, torch.autograd.grad(loss, [xi, *s0])))
    (ref, g_ref), (fused, g_fused) = results
    assert 0.05 < ref.spikes.mean() < 0.6
    for a, b in zip((fused.spikes, fused.v, fused.threshold, *fused.state),
                    (ref.spikes, ref.v, ref.threshold, *ref.state), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(g_fused, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=RTOL * float(b.abs().max()))


def test_alif_module_selects_fused_and_learnable_parameters_use_reference():
    x = torch.randn(20, 2, 5, requires_grad=True)
    auto = ALIF(0.9, 0.95)(x)
    assert "hebbtorch_alif_forward" in type(auto.spikes.grad_fn).__name__
    assert torch.equal(auto.spikes, ALIF(0.9, 0.95, backend="reference")(x).spikes)
    p = ALIFParameters(threshold=torch.tensor(1.0, requires_grad=True))
    assert "hebbtorch" not in type(alif_sequence(x, p).spikes.grad_fn).__name__
    with pytest.raises(HebbtorchError, match="require grad"):
        alif_sequence(x, p, backend="fused")


# ----------------------------------------------------------------------------- refractory (seed)


@pytest.mark.parametrize("binary, surrogate", [(False, "fast_sigmoid")]
                         + [(True, s) for s in sorted(SURROGATES)])
def test_fused_refractory_matches_reference(binary, surrogate):
    g = torch.Generator().manual_seed(0)
    T, B, N = 50, 3, 37
    x = torch.randn(T, B, N, generator=g) * 0.8 + 0.4
    p = RefractoryParameters(binary=binary, surrogate=surrogate)
    state = [torch.rand(B, N, generator=g), torch.rand(B, N, generator=g)]
    results = []
    for backend in ("reference", "fused"):
        xi = x.clone().requires_grad_()
        s0 = RefractoryState(*(t.clone().requires_grad_() for t in state))
        out = refractory_sequence(xi, p, s0, backend=backend)
        w = torch.Generator().manual_seed(1)
        loss = sum((y * torch.randn(y.shape, generator=w)).sum()
                   for y in (out.inner, out.out, *out.state))
        results.append((out, torch.autograd.grad(loss, [xi, *s0])))
    (ref, g_ref), (fused, g_fused) = results
    assert 0.05 < (ref.out > 0).float().mean() < 0.6
    for a, b in zip((fused.inner, fused.out, *fused.state), (ref.inner, ref.out, *ref.state),
                    strict=True):
        assert torch.equal(a, b)
    for a, b in zip(g_fused, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=RTOL * float(b.abs().max()))


def test_refractory_module_selects_fused():
    x = torch.randn(20, 2, 5, requires_grad=True)
    auto = RefractoryNeuron()(x)
    assert "hebbtorch_refractory_forward" in type(auto.out.grad_fn).__name__
    assert torch.equal(auto.out, RefractoryNeuron(backend="reference")(x).out)


# ------------------------------------------------------------------------- a build that breaks


def test_broken_kernel_source_fails_the_tests_and_warns_users_once(tmp_path, monkeypatch):
    # a kernel source that no longer compiles: the build raises with the compiler's message,
    # the tests' helper fails (HebbtorchError, not pytest's skip), "auto" warns once and falls
    # back, "fused" raises
    broken = tmp_path / "broken_cpu.cpp"
    broken.write_text("int main( { return undeclared_symbol; }\n")
    monkeypatch.setenv("HEBBTORCH_KERNEL_CACHE", str(tmp_path / "cache"))
    lib = build.ExtensionLibrary("broken_cpu", "fused CPU kernels", [broken])
    monkeypatch.setattr(cpu, "library", lib)
    monkeypatch.setattr(dispatch, "warned", set())
    with pytest.raises(HebbtorchError, match="broken_cpu.cpp") as err:
        lib()
    assert "undeclared_symbol" in str(err.value)  # the compiler's own words reach the user
    try:
        require_kernels()
    except pytest.skip.Exception:  # not a HebbtorchError: would otherwise pass as a skip
        pytest.fail("a kernel that does not build must fail the tests, not skip them")
    except HebbtorchError as e:
        assert "broken_cpu.cpp" in str(e)
    else:
        pytest.fail("require_kernels accepted a kernel that does not build")
    x = torch.randn(5, 2, 3)
    with pytest.warns(RuntimeWarning, match="undeclared_symbol"):
        lif_sequence(x, LIFParameters())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per cause
        lif_sequence(x, LIFParameters())
    with pytest.raises(HebbtorchError, match="broken_cpu.cpp"):
        lif_sequence(x, LIFParameters(), backend="fused")


def test_only_a_missing_compiler_skips(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-hebbtorch")
    assert not build.compiler_available()
    with pytest.raises(pytest.skip.Exception):
        require_kernels()


@pytest.mark.parametrize("neuron", ["lif", "alif", "refractory"])
def test_every_neuron_op_has_its_cpu_cuda_and_autograd_registrations(neuron):
    # the one helper (kernels/ops.py) registered each piece; the CPU kernel comes from the C++
    # TORCH_LIBRARY_IMPL, whose signature the dispatcher checked against the schema at load
    for op in (f"hebbtorch::{neuron}_forward", f"hebbtorch::{neuron}_backward"):
        for key in ("CPU", "CUDA"):
            assert torch._C._dispatch_has_kernel_for_dispatch_key(op, key), (op, key)
    assert torch._C._dispatch_has_kernel_for_dispatch_key(f"hebbtorch::{neuron}_forward",
                                                          "Autograd")
    assert dispatch.lookup(neuron, "cpu").load is not None  # registered with dispatch
    assert dispatch.lookup(neuron, "cuda") is not None
    assert dispatch.lookup(neuron, "mps") is None


# ------------------------------------------- a new neuron through the shared machinery (demo)

TOY_CPP = r"""
// v[t] = a v[t-1] + I[t]: a leaky integrator, the smallest neuron with a state
#include "neuron_kernels.h"

namespace {
std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& currents, const at::Tensor& v0,
                                           double a) {
  auto v_seq = at::empty_like(currents);
  auto v = v0.clone();
  const int64_t T = currents.size(0), M = v0.numel();
  AT_DISPATCH_FLOATING_TYPES(currents.scalar_type(), "toy_li_forward", [&] {
    using F = scalar_t;
    const F* I = hebbtorch::ptr<F>(currents);
    F *out = hebbtorch::ptr<F>(v_seq), *s = hebbtorch::ptr<F>(v);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t m = 0; m < M; ++m) out[t * M + m] = s[m] = F(a) * s[m] + I[t * M + m];
  });
  return {v_seq, v};
}

std::tuple<at::Tensor, at::Tensor> backward(const at::Tensor& grad_seq, const at::Tensor& grad_v,
                                            double a) {
  auto d_cur = at::empty_like(grad_seq);
  auto carry = grad_v.contiguous().clone();
  const int64_t T = grad_seq.size(0), M = grad_v.numel();
  auto g_seq = grad_seq.contiguous();
  AT_DISPATCH_FLOATING_TYPES(grad_seq.scalar_type(), "toy_li_backward", [&] {
    using F = scalar_t;
    const F* g = hebbtorch::ptr<F>(g_seq);
    F *d = hebbtorch::ptr<F>(d_cur), *c = hebbtorch::ptr<F>(carry);
    for (int64_t t = T - 1; t >= 0; --t)
      for (int64_t m = 0; m < M; ++m) {
        c[m] += g[t * M + m];
        d[t * M + m] = c[m];
        c[m] *= F(a);
      }
  });
  return {d_cur, carry};  // carry: d v0
}
}  // namespace

TORCH_LIBRARY_IMPL(hebbtorch, CPU, m) {
  m.impl("toy_li_forward", &forward);
  m.impl("toy_li_backward", &backward);
}
"""


@pytest.mark.slow  # compiles a new extension
def test_a_new_neuron_is_physics_plus_kernel_source_plus_tests(tmp_path, monkeypatch):
    from hebbtorch.kernels import ops

    def reference(currents, v0, a):  # the physics file's sequence function
        vs, v = [], v0
        for x in currents.unbind(0):
            v = a * v + x
            vs.append(v)
        return torch.stack(vs), v

    source = tmp_path / "toy_li_cpu.cpp"
    source.write_text(TOY_CPP)
    monkeypatch.setenv("HEBBTORCH_KERNEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cpu, "library", build.ExtensionLibrary("toy_cpu", "toy kernels"))

    def setup_context(ctx, inputs, output):
        ctx.a = inputs[2]

    def grad(ctx, g_seq, g_v):
        d_cur, d_v0 = backward(g_seq, g_v, ctx.a)
        return d_cur, d_v0, None

    forward, backward = ops.neuron_ops(
        "toy_li",
        ops.Op("(Tensor currents, Tensor v0, float a) -> (Tensor, Tensor)",
               lambda c, v0, a: (torch.empty_like(c), torch.empty_like(v0))),
        ops.Op("(Tensor grad_seq, Tensor grad_v, float a) -> (Tensor, Tensor)",
               lambda g, gv, a: (torch.empty_like(g), torch.empty_like(gv))),
        grad=grad, setup_context=setup_context, source=source)
    ops.register_neuron("toy_li", lambda c, v0, a: forward(c, v0, a), lambda *_: None)
    x = torch.randn(7, 3, 5, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    run = dispatch.select("toy_li", "auto", x, v0, 0.8)  # builds the source
    assert run is not None
    for a, b in zip(run(x, v0, 0.8), reference(x, v0, 0.8), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x, v0: forward(x, v0, 0.8), (x, v0))
    torch.library.opcheck(forward, (x, v0, 0.8),
                          test_utils=("test_schema", "test_autograd_registration",
                                      "test_faketensor"))
