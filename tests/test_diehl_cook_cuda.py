"""The Diehl & Cook network's CUDA path (hebbtorch/kernels/diehl_cook_triton.py) against the CPU
kernel, which tests/test_diehl_cook.py checks against the reference step loop. Skipped without
CUDA; run on a lent GPU (bench/gpu_check.sh)."""

from __future__ import annotations

import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import diehl_cook as fused
from hebbtorch.learning.unsupervised import make_rule
from hebbtorch.networks.diehl_cook import DiehlCookNetwork, input_spikes
from tests.test_diehl_cook import CUDA_WEIGHT_ATOL

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _twins(n: int, seed: int, scale: float,
           rule: str = "dc") -> tuple[DiehlCookNetwork, DiehlCookNetwork]:
    nets = []
    w = make_rule(rule).init(n, torch.Generator().manual_seed(seed))
    w *= scale  # a busy network: many E and I spikes, LTP and LTD every image
    for device in ("cpu", "cuda"):
        setup = make_rule(rule)  # each network its own rule object
        nets.append(DiehlCookNetwork(n, setup.rule, bounds=setup.bounds, w_init=w,
                                     device=device))
    return nets[0], nets[1]


@pytest.mark.parametrize("n", [100, 300, 1000])  # 1, 3 and 8 programs (the per-step wait)
@pytest.mark.parametrize("learn", [True, False])
@pytest.mark.parametrize("rule", ["dc", "pair", "triplet", "calcium"])
def test_presentation_and_rest_match_cpu_kernel(n: int, learn: bool, rule: str) -> None:
    if not learn and rule != "dc":
        pytest.skip("frozen: the rule is not used")
    cpu, gpu = _twins(n, seed=n, scale=2.0, rule=rule)
    start = cpu.weight.clone()
    g = torch.Generator().manual_seed(1)
    counts = {}
    for image in range(3):
        pix = torch.rand(1, 784, generator=g) * 255
        spikes = input_spikes(pix, torch.tensor([4.0]), 700, 0.5,
                              torch.Generator().manual_seed(image))
        for name, net in (("cpu", cpu), ("gpu", gpu)):
            if learn:
                net.normalize()
            c = torch.zeros(1, n, device=net.weight.device)
            fused.run(net, spikes.to(net.weight.device), 700, learn, c)
            fused.run(net, None, 300, learn, None, rest=True)
            counts[name] = c.cpu()
        assert counts["cpu"].sum() > 20  # the comparison means something
        torch.testing.assert_close(counts["gpu"], counts["cpu"], rtol=0, atol=0)
        # tight enough that one missed depression event shows (CUDA_WEIGHT_ATOL, checked on
        # the CPU by test_one_missed_depression_event_exceeds_the_cuda_tolerance); the two
        # kernels do the same float32 operations in the same order (fp fusion off), apart from
        # the normalisation's sum (torch, per device) and the membrane's exp
        torch.testing.assert_close(gpu.weight.cpu(), cpu.weight, rtol=0, atol=CUDA_WEIGHT_ATOL)
        torch.testing.assert_close(gpu.theta.cpu(), cpu.theta, rtol=0, atol=1e-5)
        for a, b in zip(gpu.state, cpu.state, strict=True):
            torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-4)
        if learn:
            for a, b in zip((*gpu.learner.pre, *gpu.learner.post),
                            (*cpu.learner.pre, *cpu.learner.post), strict=True):
                torch.testing.assert_close(a.cpu(), b, rtol=0, atol=1e-6)
    if learn:  # the rule did learn (so the weights' comparison means something)
        assert (cpu.weight - start).abs().max() > 1e-3


def test_cuda_path_takes_the_spike_triggered_rules_not_graupner_brunel() -> None:
    for rule in ("dc", "pair", "triplet", "calcium", "gb"):
        setup = make_rule(rule)
        net = DiehlCookNetwork(100, setup.rule, bounds=setup.bounds, device="cuda")
        why = fused.unsupported(net)
        assert (why is None) == (rule != "gb"), (rule, why)
        assert fused.unsupported(net, learn=False) is None  # frozen: any rule


def test_network_selects_cuda_kernel_and_reference_agrees_statistically() -> None:
    n = 200
    nets = {b: DiehlCookNetwork(n, generator=torch.Generator().manual_seed(0), device="cuda",
                                backend=b) for b in ("fused", "reference")}
    assert fused.use_fused(nets["fused"]) and not fused.use_fused(nets["reference"])
    pix = torch.rand(5, 784, generator=torch.Generator().manual_seed(2)) * 255
    totals = {}
    for b, net in nets.items():
        totals[b] = sum(float(net.present(pix[k:k + 1], learn=True, seed=k)[0].sum())
                        for k in range(5))
    # rounding differences may move single spikes; the responses stay the same size
    assert totals["fused"] == pytest.approx(totals["reference"], rel=0.3)


def test_too_many_neurons_for_the_device_is_refused() -> None:
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    net = DiehlCookNetwork(sms * 128 + 1, device="cuda", backend="fused")
    assert "SMs" in fused.unsupported(net)
    with pytest.raises(HebbtorchError, match="SMs"):
        net.present(torch.zeros(1, 784), learn=False)
