"""Fused frozen evaluation of the Diehl & Cook network on CPU (``diehl_cook_eval_cpu.cpp``, the
operator ``hebbtorch::dc_eval`` of :mod:`.diehl_cook_ops`): one
attempt of :meth:`~hebbtorch.networks.diehl_cook.DiehlCookNetwork.present` without learning --
the Poisson input, 350 ms of presentation and the 150 ms rest -- for a batch of images in one
call, the images spread over threads (they are independent: nothing is learned).

The kernel draws the input itself, the same draws as the reference's ``torch.rand`` with a CPU
generator (tested), so a batch gives the reference's spike counts: the arithmetic is the
reference step loop's except the order in which the input drive sums the weights of the inputs
that spiked (as the batch-1 kernel, :mod:`hebbtorch.kernels.diehl_cook`), which moves a spike
only where a membrane lands within float32 rounding of its threshold
(tests/test_diehl_cook_eval.py asserts equal counts). Threads: :func:`eval_threads`.
Measurements: bench/bench_unsupervised.py.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import cpu
from hebbtorch.kernels import diehl_cook_ops as ops
from hebbtorch.kernels.diehl_cook_ops import library
from hebbtorch.kernels.threads import idle_threads, torch_threads

# ``net`` below is a hebbtorch.networks.diehl_cook.DiehlCookNetwork (not imported: that module
# imports this one)
DiehlCookNetwork = Any


def eval_threads(batch: int) -> int:
    """Threads for a batch of ``batch`` images: one per image up to ``torch.get_num_threads()``,
    and no more than the cores other runnable processes leave idle (:func:`~hebbtorch.kernels.
    threads.idle_threads`). The images are independent and handed out one at a time to plain
    threads that are joined (sleep) at the end, so a thread slowed by another process's load
    only takes fewer images and none spins waiting (bench/bench_unsupervised_eval.py).
    ``HEBBTORCH_EVAL_THREADS`` overrides (taken as given)."""
    env = os.environ.get("HEBBTORCH_EVAL_THREADS", "")
    if env and not (env.isdigit() and int(env) > 0):
        raise HebbtorchError(f"HEBBTORCH_EVAL_THREADS must be a positive integer, got {env!r}")
    top = int(env) if env else idle_threads(torch.get_num_threads())
    return max(1, min(top, batch))


def unsupported(net: DiehlCookNetwork, one_stream: bool) -> str | None:
    """Why the fused evaluation can't run ``net``'s frozen attempt (None if it can);
    ``one_stream``: the batch's input is drawn from one seed (not one per lane)."""
    if not one_stream:
        return "one input seed per lane"
    if net.share.split:
        return "a batch split over processes"
    if net.weight.device.type != "cpu":
        return f"weights on {net.weight.device} (the fused evaluation is CPU only)"
    if net.weight.dtype != torch.float32:
        return "weights not float32"
    if net.weight.shape[0] >= 1 << 16:
        return "more than 65535 inputs"
    return None


def use_fused(net: DiehlCookNetwork, one_stream: bool) -> bool:
    """Whether :meth:`DiehlCookNetwork.present` (learn=False) runs its attempts here, resolving
    ``net.backend`` as the other fused paths do. Batch 1 on CUDA keeps the Triton kernel."""
    if net.weight.device.type == "cuda":
        return False
    return cpu.use_fused(net.backend, unsupported(net, one_stream), net.weight.device,
                         load=library)


def input_probability(pixels: torch.Tensor, intensity: torch.Tensor, dt: float) -> torch.Tensor:
    """Per-step spike probability ``[B, 784]`` of :func:`~hebbtorch.networks.diehl_cook.
    input_spikes`, rounded as :func:`~hebbtorch.encoding.rate_encode` computes it (its
    ``x * max_rate * dt``)."""
    top = float(intensity.max())
    if top <= 0:
        return torch.zeros_like(pixels)
    if 255.0 / 8.0 * top * (dt / 1000.0) > 1.0:  # as rate_encode refuses it
        raise HebbtorchError(f"input rate {255.0 / 8.0 * top:g} Hz * dt {dt:g} ms is a "
                             "probability per step above 1; lower the intensity or dt")
    x = pixels * (intensity / top).unsqueeze(1) / 255.0
    return x * (float(255.0 / 8.0 * top) * float(dt / 1000.0))


def draw(prob: torch.Tensor, seed: int, steps: int) -> torch.Tensor:
    """The kernel's input spikes ``[steps, B, n_in]`` (0/1) for ``prob`` ``[B, n_in]`` (tests)."""
    library()
    return torch.ops.hebbtorch.dc_draw(prob.float().contiguous(), ops.seed32(seed), steps)


def attempt(net: DiehlCookNetwork, pixels: torch.Tensor, intensity: torch.Tensor, seed: int,
            thresh: torch.Tensor, counts: torch.Tensor) -> None:
    """One frozen attempt (``present``'s ``input_spikes`` + ``_run`` + ``_rest`` without
    learning): pixels ``[B, 784]`` (0..255), intensity ``[B]`` (0: the lane rests), input seed
    ``seed``, spike thresholds ``[2n]`` (``thresholds(net.theta, params)``); the network's
    state advances, the E spikes are added to ``counts`` ``[B, n]``."""
    library()
    p = net.params
    threads = eval_threads(net.batch)
    with torch_threads(1):  # [B, 784]: torch's pool would only wait for itself under load
        prob = input_probability(pixels, intensity, p.dt).float().contiguous()
    v, ge, gi, ref = (t.detach().float().contiguous().clone() for t in net.state)
    out = torch.zeros(net.batch, net.n)
    torch.ops.hebbtorch.dc_eval(
        prob, ops.seed32(seed), round(p.t_present / p.dt), round(p.t_rest / p.dt),
        net.weight.detach().contiguous(), thresh.float().contiguous(), v, ge, gi, ref,
        *ops.population_args(net), out, threads)
    counts += out.to(counts)
    net.state = type(net.state)(v, ge, gi, ref)
