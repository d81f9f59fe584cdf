"""Gradient-by-timing: split a BPTT weight gradient into the pre/post spike pairs that made it.

For a ``Linear`` feeding spiking neurons over time, ``current[t] = x[t] @ W.T + b`` with
``x`` ``[time, batch, pre]`` and ``current`` ``[time, batch, post]``, so exactly::

    dL/dW_ij = sum_{t, b} delta_i(t, b) * x_j(t, b)         delta = dL/dcurrent

Each term ``delta_i(t) x_j(t)`` is the presynaptic activity that arrived at step ``t`` (the "pre
spike" at ``t_pre = t``) times the credit BPTT gives neuron ``i``'s input at ``t``. We file the term
under ``Δt = t_post - t_pre`` where ``t_post`` is a postsynaptic spike of neuron ``i`` in the same
sample, chosen by ``mode``:

* ``"nearest"`` (default): the post spike closest in time to ``t``; a tie (one spike ``k`` steps
  before and one ``k`` steps after) goes to the later spike, i.e. the causal side ``Δt >= 0``;
* ``"next"``: the first post spike at or after ``t`` (only ``Δt >= 0``);
* ``"previous"``: the last post spike at or before ``t`` (only ``Δt <= 0``).

Terms whose neuron has no eligible post spike in that sample go to a separate "no post spike"
bucket, so the bins plus that bucket always sum to the autograd gradient (no term is dropped).
Signs: the histograms hold the *update* ``-dL/dW`` (gradient descent direction, learning rate 1).
Time is in steps; with dt = 1 ms a lag of k steps is k ms.

Post spike times must be the steps at which the neuron crosses threshold *in the same clock as the
current*; for the seed neuron, whose outputs come one step late, use :func:`undelay`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_ndim
from hebbtorch.errors import HebbtorchError

MODES = ("nearest", "next", "previous")


class TimingHistogram(NamedTuple):
    """Update ``-dL/dW`` binned by ``Δt = t_post - t_pre`` (steps).

    lags ``[L]`` (``-(T-1) .. T-1``); update ``[L]``: signed sum of the terms, summed over all
    synapses (or ``[L, post, pre]`` when ``per_synapse``); abs_update ``[L]``: sum of |term|;
    counts ``[L]``: number of nonzero terms (``delta_i(t) != 0`` and ``x_j(t) != 0``);
    no_post_*: the same for terms whose neuron had no eligible post spike;
    total: update + no_post_update summed = ``-dL/dW`` summed over synapses (or ``[post, pre]``).
    """

    lags: torch.Tensor
    update: torch.Tensor
    abs_update: torch.Tensor
    counts: torch.Tensor
    no_post_update: torch.Tensor
    no_post_abs: torch.Tensor
    no_post_count: torch.Tensor
    mode: str

    @property
    def total(self) -> torch.Tensor:
        return self.update.sum(0) + self.no_post_update

    @property
    def mean_update(self) -> torch.Tensor:
        """Average update per nonzero term in each bin (NaN where a bin is empty)."""
        u = self.update if self.update.dim() == 1 else self.update.flatten(1).sum(1)
        c = self.counts.double()
        return torch.where(c > 0, u / c.clamp_min(1), torch.full_like(u, float("nan")))

    def add(self, other: TimingHistogram) -> TimingHistogram:
        """Sum of two histograms over the same lags (e.g. over batches)."""
        if self.lags.shape != other.lags.shape or self.mode != other.mode:
            raise HebbtorchError("can only add histograms with the same lags and mode")
        return TimingHistogram(self.lags, self.update + other.update,
                               self.abs_update + other.abs_update, self.counts + other.counts,
                               self.no_post_update + other.no_post_update,
                               self.no_post_abs + other.no_post_abs,
                               self.no_post_count + other.no_post_count, self.mode)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "lag_steps": self.lags.tolist(),
                "update": self.update.tolist() if self.update.dim() == 1 else None,
                "abs_update": self.abs_update.tolist(), "counts": self.counts.tolist(),
                "mean_update": self.mean_update.tolist(),
                "no_post_update": float(self.no_post_update.sum()),
                "no_post_abs": float(self.no_post_abs), "no_post_count": int(self.no_post_count),
                "total_update": float(self.total.sum())}


def undelay(delayed_out: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Seed neuron outputs come one step late (``out[t]`` is the spike computed at ``t - 1``):
    shift back, appending the final state's output ``last`` ``[batch, ...]``."""
    return torch.cat([delayed_out[1:], last[None]], 0)


def post_spike_lags(post: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    """For every ``(t, batch, neuron)`` the lag ``t_post - t`` to the chosen post spike of that
    neuron (see module doc), as int64 ``[time, batch, neurons]``; ``T`` (the number of steps, an
    impossible lag) where there is none. ``post``: spikes ``[time, batch, neurons]`` (> 0)."""
    if mode not in MODES:
        raise HebbtorchError(f"mode must be one of {MODES}, got {mode!r}")
    check_ndim("post spikes", post, 3, "[time, batch, neurons]")
    T = post.shape[0]
    spk = post.detach() > 0
    t = torch.arange(T, device=post.device).view(T, 1, 1).expand_as(spk)
    big = 4 * T
    # next spike at or after t: reverse cumulative min of (t where spike else +big)
    nxt = torch.where(spk, t, torch.full_like(t, big)).flip(0).cummin(0).values.flip(0)
    prv = torch.where(spk, t, torch.full_like(t, -big)).cummax(0).values
    lag_n, lag_p = nxt - t, prv - t  # >= 0, <= 0
    has_n, has_p = nxt < big, prv > -big
    if mode == "next":
        lag, ok = lag_n, has_n
    elif mode == "previous":
        lag, ok = lag_p, has_p
    else:
        use_n = has_n & (~has_p | (lag_n <= -lag_p))
        lag = torch.where(use_n, lag_n, lag_p)
        ok = has_n | has_p
    return torch.where(ok, lag, torch.full_like(lag, T))


def attribute_gradient(
    delta: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, *, mode: str = "nearest",
    per_synapse: bool = False, max_terms: int = 50_000_000,
) -> TimingHistogram:
    """Histogram of ``-delta_i(t) x_j(t)`` over ``Δt = t_post - t``.

    delta ``[time, batch, post]`` (dL/dcurrent), pre ``[time, batch, pre]`` (the Linear's input),
    post ``[time, batch, post]`` (post spikes, same clock as ``delta``). ``per_synapse`` keeps
    ``[lags, post, pre]`` (memory ``time*batch*post*lags``: small problems only).
    """
    for name, x in (("delta", delta), ("pre", pre), ("post", post)):
        check_ndim(name, x, 3, "[time, batch, neurons]")
    check_finite("delta", delta)
    if delta.shape != post.shape or delta.shape[:2] != pre.shape[:2]:
        raise HebbtorchError(f"shapes disagree: delta {tuple(delta.shape)}, pre "
                             f"{tuple(pre.shape)}, post {tuple(post.shape)}")
    T = delta.shape[0]
    nbins = 2 * T - 1
    lag = post_spike_lags(post, mode)
    ok = lag < T
    idx = torch.where(ok, lag + (T - 1), torch.zeros_like(lag))
    delta = delta.detach().double()
    pre = pre.detach().double()
    nz_d = (delta != 0).double()
    lags = torch.arange(-(T - 1), T)
    okd = ok.double()
    if per_synapse:
        n_terms = delta.shape[0] * delta.shape[1] * delta.shape[2] * nbins
        if n_terms > max_terms:
            raise HebbtorchError(f"per_synapse needs {n_terms} entries (> {max_terms}); "
                                 "use the summed histogram")
        onehot = torch.nn.functional.one_hot(idx, nbins).double() * okd[..., None]
        update = -torch.einsum("tbil,tbi,tbj->lij", onehot, delta, pre)
        no_post = -torch.einsum("tbi,tbj->ij", delta * (1 - okd), pre)
    else:
        x_sum = pre.sum(2, keepdim=True)  # sum over synapses j of x_j(t)
        update = torch.zeros(nbins, dtype=torch.float64).scatter_add_(
            0, idx.flatten(), (-delta * x_sum * okd).flatten())
        no_post = (-delta * x_sum * (1 - okd)).sum()
    x_abs = pre.abs().sum(2, keepdim=True)
    x_nnz = (pre != 0).double().sum(2, keepdim=True)
    absu = torch.zeros(nbins, dtype=torch.float64).scatter_add_(
        0, idx.flatten(), (delta.abs() * x_abs * okd).flatten())
    counts = torch.zeros(nbins, dtype=torch.float64).scatter_add_(
        0, idx.flatten(), (nz_d * x_nnz * okd).flatten())
    return TimingHistogram(
        lags, update, absu, counts.round().long(), no_post,
        (delta.abs() * x_abs * (1 - okd)).sum(), (nz_d * x_nnz * (1 - okd)).sum().round().long(),
        mode)


class LinearProbe:
    """Context manager recording, for each named ``nn.Linear``, its input ``x`` and the gradient
    ``delta`` of its output (the current) after ``backward``. The Linear must be applied once per
    forward pass to a ``[time, batch, features]`` tensor.

    >>> with LinearProbe({"fc1": net.fc1}) as probe:
    ...     loss = F.cross_entropy(net(x), y); loss.backward()
    >>> probe.pre["fc1"], probe.delta["fc1"]
    """

    def __init__(self, modules: dict[str, nn.Linear]) -> None:
        for name, m in modules.items():
            if not isinstance(m, nn.Linear):
                raise HebbtorchError(f"{name} is a {type(m).__name__}, expected nn.Linear")
        self.modules = modules
        self.pre: dict[str, torch.Tensor] = {}
        self.delta: dict[str, torch.Tensor] = {}
        self._handles: list = []

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if name in self.pre:
                raise HebbtorchError(f"{name} was applied twice in one forward pass")
            x = inputs[0]
            if x.dim() != 3:
                raise HebbtorchError(f"{name} input must be [time, batch, features], got "
                                     f"shape {tuple(x.shape)}")
            self.pre[name] = x.detach()
            if output.requires_grad:
                def grad_hook(g):
                    self.delta[name] = g.detach()
                output.register_hook(grad_hook)
        return hook

    def __enter__(self) -> LinearProbe:
        self.pre.clear()
        self.delta.clear()
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self.modules.items()]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
