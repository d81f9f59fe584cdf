"""e-prop (Bellec et al. 2020, Nat. Commun. 11:3625): the gradient computed forward in time as
learning signal x eligibility trace, for one hidden LIF or ALIF layer (feed-forward or recurrent)
with a leaky readout. Memory does not grow with the number of steps.

For a synapse i -> j with presynaptic input X_i^t (inputs x^t, the layer's own z^{t-1} if
recurrent, and a constant 1 for the bias), in this library's discrete time (see
:mod:`hebbtorch.neurons.alif`; the reset's spike is a stop-gradient):

    eligibility vector, LIF:  ev^t = beta ev^{t-1} + X^t        (the filtered input, "z-bar")
    ALIF adds the adaptation: ea^t = rho ea^{t-1} + (1 - rho) psi^{t-1} (ev^{t-1} - c ea^{t-1})
                              ev^t = beta (ev^{t-1} - z^{t-1} c ea^{t-1}) + X^t
    eligibility trace:        e_ji^t = psi_j^t (ev^t - c ea^t)   (psi: surrogate derivative)
    readout filter:           ebar^t = kappa ebar^{t-1} + e^t
    learning signal:          L_j^t = sum_k B_kj dE^t/dy_k^t     (B = W_out: symmetric e-prop;
                                                                 fixed random: random e-prop)
    gradient:                 dE/dW_ji ~= sum_t L_j^t ebar_ji^t

These are the paper's eligibility vector/trace, learning signal and filtered-trace definitions
(Methods) with c = ``adapt_scale`` and this library's ``(1 - rho)`` adaptation increment. For a
feed-forward layer with symmetric feedback the sum is the exact BPTT gradient (same reset choice);
recurrent connections are where e-prop drops terms (the future learning signal).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.online_net import (
    OnlineSNN,
    PresynapticTrace,
    RateReg,
    add_grads,
    check_input,
    check_weights,
    rate_signal,
    step_loss,
)
from hebbtorch.neurons.surrogate import get_surrogate

FEEDBACK = ("symmetric", "random")


class Traces(NamedTuple):
    """Neuron-major, so that the per-neuron sums are batched matrix products without copies:
    ev ``[B, P]`` (LIF) or ``[n, B, P]`` (ALIF); ea, ebar ``[n, B, P]`` or None; psi/z: last
    step's ``[B, n]``."""

    ev: torch.Tensor
    ea: torch.Tensor | None
    ebar: torch.Tensor | None
    psi: torch.Tensor
    z: torch.Tensor


def random_feedback(net: OnlineSNN, seed: int = 0) -> torch.Tensor:
    """Fixed random feedback ``[n_out, n]`` scaled like the readout's initialisation."""
    w = net.readout.weight
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(w.shape, generator=g, dtype=w.dtype) / w.shape[1] ** 0.5).to(w.device)


def _inputs(net: OnlineSNN, x: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
    parts = [x, z_prev] if net.recurrent else [x]
    return torch.cat([*parts, x.new_ones(x.shape[0], 1)], 1)


def _check(net: OnlineSNN, feedback: str) -> None:
    if len(net.sizes) != 3:
        raise HebbtorchError(
            f"e-prop here trains one hidden layer (as Bellec et al.); got sizes {net.sizes}: "
            "use OTTT or BPTT for deeper nets")
    if feedback not in FEEDBACK:
        raise HebbtorchError(f"feedback must be one of {FEEDBACK}, got {feedback!r}")


@torch.no_grad()
def eprop_grads(
    net: OnlineSNN,
    x: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    feedback: str = "symmetric",
    feedback_matrix: torch.Tensor | None = None,
    keep_readout: bool = True,
    rate_reg: RateReg | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accumulate e-prop gradients of ``E = sum_t w_t CE(y^t, labels)`` (+ the firing-rate
    regularisation ``rate_reg``, whose learning signal dR/dz is the same at every step, so its
    gradient is that signal times the eligibility traces summed over the sequence) into
    ``.grad``.

    x ``[time, batch, n_in]``; labels ``[batch]``; weights ``[time]`` (default 1/T).
    Returns (E, readout ``[time, batch, out]`` detached, or its time average ``[batch, out]``
    if not ``keep_readout``, which keeps memory independent of T); only one step is held.
    """
    _check(net, feedback)
    check_input(net, x)
    T, B = x.shape[:2]
    w = check_weights(weights, T)
    n = net.sizes[1]
    fb = net.readout.weight if feedback == "symmetric" else (
        feedback_matrix if feedback_matrix is not None else random_feedback(net))
    p, kappa = net.params, net.kappa
    alif = net.neuron == "alif"
    sur = get_surrogate(p.surrogate)
    state = net.initial_state(B, x)
    P = _inputs(net, x[0], state.layers[0].z).shape[1]
    full = alif or kappa > 0  # LIF without readout leak keeps the factorised trace psi x ev
    big = x.new_zeros(n, B, P)
    tr = Traces(big.clone() if alif else x.new_zeros(B, P), big.clone() if alif else None,
                big if full else None, x.new_zeros(B, n), x.new_zeros(B, n))
    readout_tr = PresynapticTrace(kappa)  # the readout's exact gradient: err x kappa-filtered z
    g_in = x.new_zeros(n, P)
    g_out = torch.zeros_like(net.readout.weight)
    g_bout = torch.zeros_like(net.readout.bias)
    e_sum = x.new_zeros(n, P) if rate_reg else None  # sum_{t,b} e^t: the rate term's factor
    count = x.new_zeros(B, n)
    total = x.new_zeros(())
    ys: list[torch.Tensor] = []
    y_sum = x.new_zeros(B, net.sizes[-1])
    for t in range(T):
        X = _inputs(net, x[t], state.layers[0].z)
        out = net.step(x[t], state)
        z, psi = out.z[0], sur.grad(out.x_thr[0], net.slope)
        psi_n = psi.T[:, :, None]  # [n, B, 1]
        ev, ea, ebar = tr.ev, tr.ea, tr.ebar
        if alif:
            c, rho = p.adapt_scale, p.rho
            h = tr.ev - c * tr.ea
            ev = p.beta * (tr.ev - tr.z.T[:, :, None] * c * tr.ea) + X
            ea = rho * tr.ea + (1 - rho) * tr.psi.T[:, :, None] * h
            e = psi_n * (ev - c * ea)
            ebar = ebar.mul_(kappa).add_(e)  # in place: one [n, B, P] buffer
            if e_sum is not None:
                e_sum += e.sum(1)
        else:
            ev = p.beta * tr.ev + X
            if full:
                ebar = ebar.mul_(kappa).addcmul_(psi_n, ev)  # no [n, B, P] temporary
            if e_sum is not None:
                e_sum += psi.T @ ev
        tr = Traces(ev, ea, ebar, psi, z)
        readout_tr.push(z)
        state = out.state
        count += z
        y_sum += out.y
        if keep_readout:
            ys.append(out.y)
        if float(w[t]) == 0.0:
            continue
        y = out.y.detach().requires_grad_()
        with torch.enable_grad():
            loss = step_loss(y, labels, float(w[t]))
            (err,) = torch.autograd.grad(loss, y)
        total += loss.detach()
        L = err @ fb  # [B, n]
        if full:
            g_in += torch.bmm(L.T.unsqueeze(1), ebar).squeeze(1)  # sum_b L_bj ebar_jbp
        else:
            g_in += (L * psi).T @ ev
        g_w, g_b = readout_tr.grads(err)
        g_out += g_w
        g_bout += g_b
    if rate_reg is not None:
        g_in += rate_signal(count, T, B, rate_reg)[:, None] * e_sum
    _store(net, g_in, g_out, g_bout)
    return total, torch.stack(ys) if keep_readout else y_sum / T


def _store(net: OnlineSNN, g_in, g_out, g_bout) -> None:
    n_in = net.sizes[0]
    grads = [(net.w_in[0].weight, g_in[:, :n_in]), (net.w_in[0].bias, g_in[:, -1]),
             (net.readout.weight, g_out), (net.readout.bias, g_bout)]
    if net.recurrent:
        g_rec = g_in[:, n_in:-1].clone()
        g_rec.fill_diagonal_(0.0)
        grads.append((net.w_rec[0].weight, g_rec))
    add_grads(grads)
