"""The trace STDP of Diehl & Cook (2015), Front. Comput. Neurosci. 9:99, as in the authors' Brian
code (``Diehl&Cook_spiking_MNIST.py``, ``eqs_stdp_ee``): a :class:`~hebbtorch.plasticity.core.
TraceRule`, so it runs fused."""

from __future__ import annotations

from typing import NamedTuple

from hebbtorch.checks import check_range
from hebbtorch.plasticity import registry
from hebbtorch.plasticity.core import ONE, Factor, RuleSpec, TraceRule, TraceSpec


class DiehlCookSTDPParameters(NamedTuple):
    """The trace STDP of [sim] (``eqs_stdp_ee``): traces pre (tc_pre = 20 ms), post1
    (tc_post1 = 20 ms), post2 (tc_post2 = 40 ms), each *set to 1* at a spike (nearest-spike).
    On a pre spike ``w -= nu_pre post1`` (nu_pre = 1e-4); on a post spike
    ``w += nu_post pre post2(t-)`` (nu_post = 1e-2; ``post2before``, the slow post trace just
    before this spike: a triplet-like term). Weights are clipped to [0, wmax = 1]."""

    tc_pre: float = 20.0
    tc_post1: float = 20.0
    tc_post2: float = 40.0
    nu_pre: float = 1e-4
    nu_post: float = 1e-2


class DiehlCookSTDP(TraceRule):
    """The original trace STDP (:class:`DiehlCookSTDPParameters`) as a spec: (nu_post pre,
    post2) on a post spike, (1, nu_pre post1) on a pre spike. Like every core rule, a pre and a
    post spike in the same step do not pair (the traces it reads are those before this step's
    spikes)."""

    def __init__(self, params: DiehlCookSTDPParameters | None = None) -> None:
        p = params or DiehlCookSTDPParameters()
        for name in ("tc_pre", "tc_post1", "tc_post2"):
            check_range(f"{name} (ms)", getattr(p, name), 0.0, low_open=True)
        check_range("nu_pre", p.nu_pre, 0.0)
        check_range("nu_post", p.nu_post, 0.0)
        self.params = p
        self.pre_traces = (TraceSpec(p.tc_pre, "nearest"),)
        self.post_traces = (TraceSpec(p.tc_post1, "nearest"), TraceSpec(p.tc_post2, "nearest"))
        self.spec = RuleSpec(Factor(0.0, p.nu_post), Factor(0.0, 1.0, 1), ONE,
                             Factor(0.0, p.nu_pre))


def _make(params: str | None) -> DiehlCookSTDP:
    registry.no_params("dc", params)
    return DiehlCookSTDP()


registry.register(registry.RuleEntry(
    "dc", "Diehl & Cook 2015 trace STDP (nearest-spike, post2-gated LTP)", _make))
