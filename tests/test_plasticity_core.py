"""The plasticity core: rule descriptions (specs), the registry, a rule added in this file only
running through the fused CPU kernel, and the network learning to classify."""

from __future__ import annotations

import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.networks.diehl_cook import N_INPUT, DiehlCookNetwork
from hebbtorch.networks.readout import assign_labels, predict_all_activity
from hebbtorch.plasticity import (
    CalciumHebbian,
    DiehlCookSTDP,
    Factor,
    PairSTDP,
    PairSTDPParameters,
    RuleSpec,
    TraceRule,
    Traces,
    TraceSpec,
    TripletSTDP,
    WeightBounds,
    calcium_hebbian_step,
    kernel_spec,
    pair_stdp_step,
    registry,
    triplet_parameters,
    triplet_stdp_step,
)
from tests.conftest import make_separable, require_fused


def _traces(g: torch.Generator, n: int, k: int, saturating: bool = False) -> Traces:
    before = tuple(torch.rand(3, n, generator=g) for _ in range(k))
    after = tuple(torch.rand(3, n, generator=g) for _ in range(k))
    return Traces(before, after, ())


def _spikes(g: torch.Generator, n: int) -> torch.Tensor:
    return (torch.rand(3, n, generator=g) < 0.5).float()


def _equal(u, v) -> None:
    for a, b in zip(u, v, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("interaction", ["all_to_all", "nearest"])
def test_spec_update_is_bit_identical_to_the_paper_form_steps(interaction):
    """Each rule's reference update is generated from its spec; it must equal, bit for bit, the
    hand-written step function of its paper (pair, triplet, calcium) or the original code's
    products (dc: nu_post pre post2(t-) on post spikes, nu_pre post1 on pre spikes)."""
    g = torch.Generator().manual_seed(0)
    pre, post = _spikes(g, 7), _spikes(g, 5)
    xp2, xq2 = _traces(g, 7, 2), _traces(g, 5, 2)
    w, dt = torch.zeros(3, 7, 5), 1.0

    pair = PairSTDP(PairSTDPParameters(interaction=interaction))
    _equal(pair.update(pre, post, xp2, xq2, w, None, dt)[0],
           pair_stdp_step(pre, post, xp2.before[0], xq2.before[0], pair.params))
    trip = TripletSTDP(triplet_parameters("visual_cortex", interaction, "full"))
    _equal(trip.update(pre, post, xp2, xq2, w, None, dt)[0],
           triplet_stdp_step(pre, post, xp2.before, xq2.before, trip.params))
    ca = CalciumHebbian()
    _equal(ca.update(pre, post, xp2, xq2, w, None, dt)[0],
           calcium_hebbian_step(pre, post, xp2.before[0], xq2.before[0], xq2.after[0],
                                ca.params))
    dc = DiehlCookSTDP()
    p = dc.params
    _equal(dc.update(pre, post, xp2, xq2, w, None, dt)[0],
           ((p.nu_post * xp2.before[0], post * xq2.before[1]), (pre, p.nu_pre * xq2.before[0])))
    # no spikes: no update (the engine skips the weight pass)
    z = torch.zeros_like(pre), torch.zeros_like(post)
    assert dc.update(*z, xp2, xq2, w, None, dt)[0] == (None, None)


def test_registry_is_the_one_vocabulary():
    assert set(registry.names()) == {"dc", "pair", "triplet", "calcium", "gb",
                                     "calcium-bistable", "kheradpisheh", "astdp"}
    from hebbtorch.learning.astdp import ASTDPConfig

    assert registry.make("astdp").params == ASTDPConfig().rule.params  # aSTDP's own window
    assert isinstance(registry.make("triplet", "hippocampal/nearest/full"), TripletSTDP)
    assert registry.make("pair", "nearest").params.interaction == "nearest"
    with pytest.raises(HebbtorchError, match="unknown rule 'stdp'; choose from"):
        registry.make("stdp")
    with pytest.raises(HebbtorchError, match="no params"):
        registry.make("dc", "fast")
    with pytest.raises(HebbtorchError, match="already registered"):
        registry.register(registry.RuleEntry("dc", "another dc", lambda p: PairSTDP()))


# ------------------------------------------------------------------ a rule added here only
class PostGatedHebb(TraceRule):
    """A rule written for this test, in Python only: potentiation at a post spike
    ``(0.002 + 0.01 x1) (0.5 + y1(t+))``; depression at a pre spike ``(1 + 2 x2) 0.004 y2``;
    gated off while y1 > 2. Saturating, nearest and all-to-all traces."""

    def __init__(self) -> None:
        self.pre_traces = (TraceSpec(15.0, "saturating", 0.4), TraceSpec(60.0, "nearest"))
        self.post_traces = (TraceSpec(25.0), TraceSpec(10.0, "nearest", 0.8))
        self.spec = RuleSpec(Factor(0.002, 0.01, 0), Factor(0.5, 1.0, 0, True),
                             Factor(1.0, 2.0, 1), Factor(0.0, 0.004, 1), (0, 0.0, 2.0))


@pytest.fixture
def new_rule(monkeypatch):
    """``PostGatedHebb`` registered as ``post-gated`` for this test only."""
    monkeypatch.setitem(registry._RULES, "post-gated", registry.RuleEntry(
        "post-gated", "test rule", lambda params: PostGatedHebb()))
    return "post-gated"


def _present(backend: str, rule, bounds: WeightBounds, images: torch.Tensor):
    net = DiehlCookNetwork(30, rule, bounds=bounds, backend=backend,
                           generator=torch.Generator().manual_seed(3))
    counts = torch.cat([net.present(images[k:k + 1], learn=True, seed=k)[0]
                        for k in range(len(images))])
    return counts, net


@pytest.mark.parametrize("soft", [False, True])
def test_a_rule_written_in_python_runs_fused_and_matches_the_loop(new_rule, soft):
    """A new rule defined in this file (no C++, no Triton) is found by name through the
    registry, runs in the fused CPU kernel, and gives the reference loop's spikes exactly and
    its weights, theta and traces to float32 rounding (rtol 1e-5, atol 1e-6: the kernel sums
    in another order than the BLAS calls of the loop)."""
    from hebbtorch.kernels import diehl_cook as fused
    from hebbtorch.learning.unsupervised import make_rule

    setup = make_rule(new_rule)
    assert isinstance(setup.rule, PostGatedHebb)
    bounds = WeightBounds(0.0, 1.0, "multiplicative" if soft else "additive")
    require_fused(DiehlCookNetwork(2, setup.rule, bounds=bounds), fused.use_fused)
    images = (torch.rand(4, N_INPUT, generator=torch.Generator().manual_seed(0)) < 0.2) * 255.0
    (c_ref, ref), (c_fused, net) = (_present(b, setup.rule, bounds, images.float())
                                    for b in ("reference", "fused"))
    assert c_ref.sum() > 0 and torch.equal(c_ref, c_fused)
    w0 = DiehlCookNetwork(30, generator=torch.Generator().manual_seed(3)).weight
    assert not torch.allclose(ref.weight, w0 * 78 / w0.sum(0), atol=1e-4)  # it learned
    for a, b in ((ref.weight, net.weight), (ref.theta, net.theta),
                 *zip((*ref.learner.pre, *ref.learner.post),
                      (*net.learner.pre, *net.learner.post), strict=True)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_an_overridden_update_is_not_compiled_from_the_spec():
    """A subclass that changes ``update`` is no longer described by its spec: the kernels
    must not run the spec in its place (the network then uses the loop)."""
    from hebbtorch.kernels import diehl_cook as fused

    class Doubled(PairSTDP):
        def update(self, *args):
            upd, st = super().update(*args)
            return upd, st

    assert kernel_spec(PairSTDP()) is not None and kernel_spec(Doubled()) is None
    assert "Doubled" in fused.unsupported(DiehlCookNetwork(2, Doubled()))


class DelayedPair(PairSTDP):
    """Pair STDP whose presynaptic trace sees the spikes ``delay`` ms late (a rule described
    once: the delay is part of its spec's traces)."""

    def __init__(self, delay: float) -> None:
        super().__init__(PairSTDPParameters(A_plus=0.02, A_minus=0.01))
        self.pre_traces = (self.pre_traces[0]._replace(delay=delay),)


def test_a_delayed_rule_is_described_once_and_runs_the_loop_not_a_wrong_kernel():
    """The delay is in the spec a kernel gets; the fused kernels take no delays, so the
    dispatcher refuses the rule with the reason: "auto" runs the reference loop (weights equal
    to backend "reference" bit for bit, and different from the undelayed rule's: the delay is
    honoured, not dropped), and "fused" raises naming the delay."""
    from hebbtorch.kernels import diehl_cook as fused

    rule = DelayedPair(2.0)
    spec = kernel_spec(rule)
    assert spec.delays == (2.0,) and spec.post_traces == rule.post_traces
    assert kernel_spec(DelayedPair(0.0)).delays == (0.0,)
    net = DiehlCookNetwork(2, rule)
    assert "delay" in fused.unsupported(net)
    assert fused.unsupported(DiehlCookNetwork(2, DelayedPair(0.0))) is None
    images = (torch.rand(2, N_INPUT, generator=torch.Generator().manual_seed(0)) < 0.2) * 255.0
    runs = {name: _present(backend, r, WeightBounds(), images.float())
            for name, backend, r in (("auto", "auto", rule), ("ref", "reference", rule),
                                     ("undelayed", "reference", DelayedPair(0.0)))}
    (c_auto, auto), (c_ref, ref), (_, undelayed) = runs["auto"], runs["ref"], runs["undelayed"]
    assert c_ref.sum() > 0 and torch.equal(c_auto, c_ref)
    assert torch.equal(auto.weight, ref.weight)
    assert ref.learner.history.shape[0] == 4  # 2 ms at dt = 0.5 ms
    assert not torch.equal(ref.weight, undelayed.weight)
    with pytest.raises(HebbtorchError, match="delay"):
        DiehlCookNetwork(2, rule, backend="fused").present(images[:1].float(), learn=True)


# ------------------------------------------------------------------------- it learns
def _counts(net: DiehlCookNetwork, x: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.cat([net.present(x[k:k + 1], learn=False, seed=seed + k)[0]
                      for k in range(len(x))])


def test_the_unsupervised_network_learns_to_classify_a_separable_set():
    """Diehl & Cook's network (original rule, default backend) on 10 separable classes: with
    random initial weights the label-and-vote readout scores about 0.5 on 60 held-out images
    (measured 0.50); after 80 images of learning >= 0.7 (measured 0.92). Without learning, or
    with learning that does not form class-selective receptive fields, the second bound
    fails."""
    x, y = make_separable(200, seed=0)
    x = x.reshape(-1, N_INPUT).float()
    net = DiehlCookNetwork(30, generator=torch.Generator().manual_seed(0))

    def accuracy() -> float:
        assignments, _ = assign_labels(_counts(net, x[80:140], 1000), y[80:140])
        return float((predict_all_activity(_counts(net, x[140:], 2000), assignments)
                      == y[140:]).float().mean())

    before = accuracy()
    for k in range(80):
        net.present(x[k:k + 1], learn=True, seed=k)
    after = accuracy()
    assert before < 0.65 and after >= 0.7, (before, after)


@pytest.mark.parametrize("path", ["scripts/unsupervised_activity.py",
                                  "bench/bench_unsupervised.py"])
def test_scripts_that_name_rules_import(path, load_script):
    """Scripts outside the package take their rule names from the registry; an import of a
    removed name (a table of rules that no longer exists) fails here, not in a user's hands."""
    load_script(path)
