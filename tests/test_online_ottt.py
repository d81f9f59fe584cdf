"""OTTT on LIF and ALIF layers, feed-forward and recurrent (Xiao et al. 2022, Sec. 4.1): exact
where the theory says so, and equal to an independent hand-written reference elsewhere."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.online import grads
from hebbtorch.learning.online_net import LayerState, OnlineSNN, RateReg, rate_loss
from hebbtorch.learning.ottt import ottt_grads
from hebbtorch.neurons.surrogate import get_surrogate

TOL = dict(rtol=1e-9, atol=1e-12)


def _setup(sizes=(10, 8, 3), T=25, B=4, seed=1, **kw):
    torch.manual_seed(seed)
    net = OnlineSNN(sizes, **kw).double()
    with torch.no_grad():  # enough drive that every hidden layer spikes
        for layer in net.w_in:
            layer.weight.mul_(3.0)
    x = (torch.rand(T, B, sizes[0], dtype=torch.float64) < 0.3).double()
    w = torch.rand(T, dtype=torch.float64)
    return net, x, torch.randint(0, sizes[-1], (B,)), w / w.sum()


def _grads(net, x, labels, learning, w, **kw):
    net.zero_grad(set_to_none=True)
    grads(net, x, labels, learning, w, **kw)
    return {k: p.grad.clone() for k, p in net.named_parameters()}


def _ottt_by_hand(net: OnlineSNN, x, labels, w, reg: RateReg | None = None) -> dict:
    """OTTT written out: traces a_hat = lam a_hat + X, per-step error sent down the layers of
    that step through psi, gradient = signal (outer) trace. No autograd."""
    p, T, B = net.params, x.shape[0], x.shape[1]
    alif, sur = net.neuron == "alif", get_surrogate(p.surrogate)
    W = [m.weight.detach() for m in net.w_in]
    b = [m.bias.detach() for m in net.w_in]
    R = [net.rec_weight(i).detach() for i in range(len(W))] if net.recurrent else None
    Wo, bo = net.readout.weight.detach(), net.readout.bias.detach()
    n = net.sizes[1:-1]
    v = [x.new_zeros(B, k) for k in n]
    a = [x.new_zeros(B, k) for k in n]
    z = [x.new_zeros(B, k) for k in n]
    tin = [None] * len(n)
    trec = [x.new_zeros(B, k) for k in n]
    tb = [0.0] * len(n)
    tout, tbo = x.new_zeros(B, n[-1]), 0.0
    g = {k: torch.zeros_like(q) for k, q in net.named_parameters()}
    y = x.new_zeros(B, net.sizes[-1])
    s_in = [0.0] * len(n)
    s_rec, s_b = [0.0] * len(n), [0.0] * len(n)
    count = x.new_zeros(B, n[0])
    for t in range(T):
        inp, psis = x[t], []
        for i in range(len(n)):
            tin[i] = inp.clone() if tin[i] is None else net.params.beta * tin[i] + inp
            trec[i] = p.beta * trec[i] + z[i]
            tb[i] = p.beta * tb[i] + 1.0
            cur = inp @ W[i].T + b[i] + (z[i] @ R[i].T if R else 0.0)
            if alif:
                a[i] = p.rho * a[i] + (1 - p.rho) * z[i]
            thr = p.threshold + (p.adapt_scale * a[i] if alif else 0.0)
            vv = p.beta * v[i] + cur
            zi = (vv - thr > 0).double()
            psis.append(sur.grad(vv - thr, net.slope))
            v[i] = vv - zi * thr if p.reset == "subtract" else vv * (1 - zi)
            z[i], inp = zi, zi
        tout, tbo = net.kappa * tout + inp, net.kappa * tbo + 1.0
        y = net.kappa * y + inp @ Wo.T + bo
        err = float(w[t]) * (torch.softmax(y, 1) - F.one_hot(labels, y.shape[1])) / B
        g["readout.weight"] += err.T @ tout
        g["readout.bias"] += err.sum(0) * tbo
        credit = err @ Wo
        for i in reversed(range(len(n))):
            d = credit * psis[i]
            g[f"w_in.{i}.weight"] += d.T @ tin[i]
            g[f"w_in.{i}.bias"] += d.sum(0) * tb[i]
            if R:
                g[f"w_rec.{i}.weight"] += d.T @ trec[i]
            credit = d @ W[i]
        if reg is not None:
            count += z[0]
            s_in[0] = s_in[0] + psis[0].T @ tin[0]
            s_rec[0] = s_rec[0] + psis[0].T @ trec[0]
            s_b[0] = s_b[0] + psis[0].sum(0) * tb[0]
    if reg is not None:
        sig = 2 * reg.c_reg * (count.sum(0) / (T * B) - reg.f_target) / (T * B)
        g["w_in.0.weight"] += sig[:, None] * s_in[0]
        g["w_in.0.bias"] += sig * s_b[0]
        if R:
            g["w_rec.0.weight"] += sig[:, None] * s_rec[0]
    if R:
        for i in range(len(n)):
            g[f"w_rec.{i}.weight"].fill_diagonal_(0.0)
    return g


def _bptt_through_membranes_only(net: OnlineSNN, x, labels, w, reg: RateReg | None = None):
    """BPTT (autograd) with every temporal path but each neuron's own membrane decay cut: the
    recurrent input z^{t-1} and the ALIF adaptation are stop-gradients, and the hidden spikes
    reach the loss only through the readout of the same step (the readout weights keep their
    path through the readout's memory). One hidden layer."""
    net.zero_grad(set_to_none=True)
    state = net.initial_state(x.shape[1], x)
    y_w, loss, count = None, 0.0, 0.0
    for t in range(x.shape[0]):
        (st,) = state.layers
        neuron = st.neuron
        if net.neuron == "alif":
            neuron = neuron._replace(a=neuron.a.detach(), s=neuron.s.detach())
        cur = net.w_in[0](x[t])
        if net.recurrent:
            cur = cur + F.linear(st.z.detach(), net.rec_weight(0))
        z, _, new = net.hidden_step(0, cur, LayerState(neuron, st.z))
        count = count + z
        inst = F.linear(z, net.readout.weight.detach())  # the same-step credit of z
        mem = net.readout(z.detach())
        y_w = mem if y_w is None else net.kappa * y_w + mem
        y = y_w + inst - inst.detach()
        loss = loss + float(w[t]) * F.cross_entropy(y, labels)
        state = state._replace(layers=(new,))
    if reg is not None:
        loss = loss + rate_loss((count,), x.shape[0], reg)
    loss.backward()
    return {k: p.grad.clone() for k, p in net.named_parameters()}


@pytest.mark.parametrize("neuron", ["lif", "alif"])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("reg", [None, RateReg(c_reg=5.0, f_target=0.02)])
def test_ottt_is_bptt_through_the_membranes_only(neuron, recurrent, reg):
    """What OTTT keeps, it keeps exactly: its gradient is BPTT's with the recurrent, adaptation
    and readout-memory paths of the hidden credit cut (one hidden layer, leaky readout)."""
    net, x, lab, w = _setup(neuron=neuron, recurrent=recurrent, kappa=0.9)
    g_o = _grads(net, x, lab, "ottt", w, rate_reg=reg)
    g_r = _bptt_through_membranes_only(net, x, lab, w, reg)
    assert g_o["w_in.0.weight"].abs().sum() > 0
    for k in g_r:
        assert torch.allclose(g_o[k], g_r[k], **TOL), k


def test_ottt_equals_bptt_on_a_recurrent_layer_whose_recurrent_weights_are_zero():
    """Xiao et al.'s equivalence case carried to W_rec: with W_rec = 0 (LIF, kappa = 0) the
    recurrent spikes carry no credit, so the trace of z^{t-1} gives W_rec's exact gradient."""
    net, x, lab, w = _setup(recurrent=True, kappa=0.0)
    with torch.no_grad():
        net.w_rec[0].weight.zero_()
    g_b, g_o = _grads(net, x, lab, "bptt", w), _grads(net, x, lab, "ottt", w)
    assert g_b["w_rec.0.weight"].abs().sum() > 0
    for k in g_b:
        assert torch.allclose(g_o[k], g_b[k], **TOL), k


@settings(max_examples=12, deadline=None)
@given(neuron=st.sampled_from(["lif", "alif"]), recurrent=st.booleans(),
       depth=st.integers(1, 2), beta=st.floats(0.3, 0.99), rho=st.floats(0.5, 0.999),
       kappa=st.floats(0.0, 0.99), adapt=st.floats(0.0, 3.0), subtract=st.booleans(),
       rate=st.booleans(), seed=st.integers(0, 1000))
def test_ottt_matches_the_hand_written_rule(neuron, recurrent, depth, beta, rho, kappa, adapt,
                                            subtract, rate, seed):
    net, x, lab, w = _setup(sizes=(6, *[7] * depth, 3), T=12, seed=seed, neuron=neuron,
                            recurrent=recurrent, beta=beta, rho=rho, kappa=kappa,
                            adapt_scale=adapt)
    net.params = net.params._replace(reset="subtract" if subtract else "zero")
    reg = RateReg(c_reg=3.0, f_target=0.1) if rate and depth == 1 else None
    g_o = _grads(net, x, lab, "ottt", w, rate_reg=reg)
    g_h = _ottt_by_hand(net, x, lab, w, reg)
    for k in g_h:
        assert torch.allclose(g_o[k], g_h[k], **TOL), k


def test_recurrent_alif_ottt_is_an_approximation_of_bptt():
    """Where OTTT drops paths the gap is visible, but the direction is kept."""
    net, x, lab, w = _setup(neuron="alif", recurrent=True, kappa=0.9)
    g_b, g_o = _grads(net, x, lab, "bptt", w), _grads(net, x, lab, "ottt", w)
    for k in ("w_in.0.weight", "w_rec.0.weight"):
        assert not torch.allclose(g_o[k], g_b[k], rtol=1e-3)
        assert F.cosine_similarity(g_o[k].flatten(), g_b[k].flatten(), 0) > 0.5
    assert torch.allclose(g_o["readout.weight"], g_b["readout.weight"], **TOL)
    assert torch.count_nonzero(torch.diagonal(g_o["w_rec.0.weight"])) == 0


def test_ottt_refuses_the_rate_term_where_it_is_not_defined():
    net, x, lab, w = _setup(sizes=(10, 8, 8, 3))
    with pytest.raises(HebbtorchError, match="one hidden layer only"):
        ottt_grads(net, x, lab, w, rate_reg=RateReg())
    net, x, lab, w = _setup()
    with pytest.raises(HebbtorchError, match="one hidden layer only"):
        ottt_grads(net, x, lab, w, mode="O", optimizer=torch.optim.SGD(net.parameters(), 0.1),
                   rate_reg=RateReg())


def test_ottt_leaves_the_input_untouched():
    """The traces are updated in place: the first one must be a copy, not the input itself."""
    net, x, lab, w = _setup(recurrent=True, neuron="alif")
    before = x.clone()
    ottt_grads(net, x, lab, w)
    assert torch.equal(x, before)
