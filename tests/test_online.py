"""e-prop and OTTT against BPTT: exact where the theory says so, a measured gap elsewhere."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.online import grads, sequential_grads, sequential_view
from hebbtorch.learning.online_net import OnlineSNN
from hebbtorch.learning.ottt import ottt_grads

TOL = dict(rtol=1e-9, atol=1e-12)  # float64: online and BPTT sum the same terms in another order


def _setup(sizes=(10, 8, 3), T=30, B=4, seed=1, device="cpu", **kw):
    torch.manual_seed(seed)
    net = OnlineSNN(sizes, **kw).double().to(device)
    with torch.no_grad():  # enough input drive that the hidden layer spikes
        for layer in net.w_in:
            layer.weight.mul_(3.0)
    x = (torch.rand(T, B, sizes[0], dtype=torch.float64) < 0.3).double().to(device)
    return net, x, torch.randint(0, sizes[-1], (B,)).to(device)


def _grads(net, x, labels, learning, **kw):
    net.zero_grad(set_to_none=True)
    loss, y = grads(net, x, labels, learning, **kw)
    return loss, y, {k: p.grad.clone() for k, p in net.named_parameters()}


def _cos(a, b):
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), 0))


@pytest.mark.parametrize("neuron", ["lif", "alif"])
@pytest.mark.parametrize("kappa", [0.0, 0.9])
def test_eprop_equals_bptt_on_one_feedforward_layer(neuron, kappa):
    net, x, lab = _setup(neuron=neuron, kappa=kappa)
    loss_b, y_b, g_b = _grads(net, x, lab, "bptt")
    loss_e, y_e, g_e = _grads(net, x, lab, "eprop")
    assert torch.equal(y_b, y_e) and torch.allclose(loss_b, loss_e, **TOL)
    assert g_b["w_in.0.weight"].abs().sum() > 0  # the layer spiked: a non-trivial gradient
    for k in g_b:
        assert torch.allclose(g_e[k], g_b[k], **TOL), k


@settings(max_examples=8, deadline=None)
@given(beta=st.floats(0.3, 0.99), kappa=st.floats(0.0, 0.99), seed=st.integers(0, 100))
def test_eprop_equals_bptt_for_any_decays(beta, kappa, seed):
    net, x, lab = _setup(T=12, seed=seed, beta=beta, kappa=kappa)
    g_b, g_e = _grads(net, x, lab, "bptt")[2], _grads(net, x, lab, "eprop")[2]
    for k in g_b:
        assert torch.allclose(g_e[k], g_b[k], **TOL), k


def test_ottt_equals_bptt_with_one_layer_and_instantaneous_readout():
    """Xiao et al.'s equivalence case: one layer, instantaneous loss, reset gradient dropped."""
    net, x, lab = _setup(kappa=0.0)
    g_b, g_o = _grads(net, x, lab, "bptt")[2], _grads(net, x, lab, "ottt")[2]
    for k in g_b:
        assert torch.allclose(g_o[k], g_b[k], **TOL), k


def test_lean_bptt_equals_bptt():
    net, x, lab = _setup(neuron="alif", recurrent=True)
    g_b, g_l = _grads(net, x, lab, "bptt")[2], _grads(net, x, lab, "bptt-lean", chunk=7)[2]
    for k in g_b:
        assert torch.allclose(g_l[k], g_b[k], **TOL), k


@pytest.mark.parametrize("case", [
    ("eprop", dict(recurrent=True), "w_rec.0.weight"),
    ("eprop", dict(recurrent=True, neuron="alif"), "w_in.0.weight"),
    ("ottt", dict(kappa=0.9), "w_in.0.weight"),
    ("ottt", dict(sizes=(10, 8, 8, 3), kappa=0.0), "w_in.0.weight"),
])
def test_gap_where_online_is_an_approximation(case):
    """Recurrence, a leaky readout under OTTT, or a second layer: not BPTT, but aligned."""
    learning, kw, key = case
    net, x, lab = _setup(**kw)
    g_b, g_o = _grads(net, x, lab, "bptt")[2], _grads(net, x, lab, learning)[2]
    assert not torch.allclose(g_o[key], g_b[key], **TOL)  # the approximation is visible
    assert _cos(g_o[key], g_b[key]) > 0.5
    assert torch.allclose(g_o["readout.weight"], g_b["readout.weight"], **TOL)


def test_random_feedback_changes_only_the_hidden_gradients():
    net, x, lab = _setup()
    g_b, g_r = _grads(net, x, lab, "bptt")[2], _grads(net, x, lab, "eprop-random")[2]
    assert torch.allclose(g_r["readout.weight"], g_b["readout.weight"], **TOL)
    assert not torch.allclose(g_r["w_in.0.weight"], g_b["w_in.0.weight"], rtol=0.1)


def test_self_connections_stay_zero():
    net, x, lab = _setup(recurrent=True)
    for learning in ("bptt", "eprop"):
        g = _grads(net, x, lab, learning)[2]["w_rec.0.weight"]
        assert torch.count_nonzero(torch.diagonal(g)) == 0


def test_ottt_o_applies_the_accumulated_step_when_only_the_last_step_counts():
    """With the loss on the last step only, OTTT_O's single update equals OTTT_A + one SGD step."""
    net, x, lab = _setup(kappa=0.0)
    w = torch.zeros(x.shape[0])
    w[-1] = 1.0
    start = {k: p.detach().clone() for k, p in net.named_parameters()}
    g = _grads(net, x, lab, "ottt", weights=w)[2]
    net.zero_grad(set_to_none=True)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    ottt_grads(net, x, lab, w, mode="O", optimizer=opt)
    for k, p in net.named_parameters():
        assert torch.allclose(p.detach(), start[k] - 0.1 * g[k], **TOL), k


def test_online_steps_keep_no_graph():
    net, x, lab = _setup(recurrent=True, neuron="alif")
    loss, y, _ = _grads(net, x, lab, "eprop")
    assert not y.requires_grad and not loss.requires_grad


@pytest.mark.parametrize("call, msg", [
    (lambda n, x, y: grads(n, x, y, "rtrl"), "learning must be one of"),
    (lambda n, x, y: grads(n, x[:, :, :5], y, "eprop"), "input must be"),
    (lambda n, x, y: grads(n, x, y, "eprop", weights=torch.ones(3)), "one entry per step"),
    (lambda n, x, y: ottt_grads(n, x, y, mode="B"), "mode must be"),
    (lambda n, x, y: ottt_grads(n, x, y, mode="O"), "give an optimizer"),
])
def test_bad_input_is_one_clear_error(call, msg):
    net, x, lab = _setup()
    with pytest.raises(HebbtorchError, match=msg):
        call(net, x, lab)


def test_unsupported_networks_are_refused():
    net, x, lab = _setup(sizes=(10, 8, 8, 3))
    with pytest.raises(HebbtorchError, match="one hidden layer"):
        grads(net, x, lab, "eprop")
    with pytest.raises(HebbtorchError, match="neuron must be"):
        OnlineSNN((3, 4, 2), neuron="izhikevich")


@pytest.mark.parametrize("neuron", ["lif", "alif"])
def test_sequential_view_shares_weights_and_forward(neuron):
    from hebbtorch.networks.registry import build_model

    torch.manual_seed(0)
    model = build_model("lif-mlp", num_steps=6, hidden=20, neuron=neuron, beta=0.8,
                        threshold=0.3)
    images = torch.rand(5, 28, 28)
    labels = torch.randint(0, 10, (5,))
    net = sequential_view(model)
    assert net.w_in[0].weight is model.stages[0].weight and net.neuron == neuron
    with torch.no_grad():
        expected = model(images)
    for learning in ("bptt", "eprop", "ottt"):
        model.zero_grad(set_to_none=True)
        loss, logits = sequential_grads(model, images, labels, learning)
        assert torch.allclose(logits, expected, rtol=1e-5, atol=1e-6)
        assert model.stages[0].weight.grad is not None and torch.isfinite(loss)


def test_sequential_view_refuses_conv_nets():
    from hebbtorch.networks.registry import build_model

    with pytest.raises(HebbtorchError, match="lif-mlp model only"):
        sequential_view(build_model("lif-conv", num_steps=2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("learning", ["eprop", "ottt"])
def test_online_on_cuda_matches_cpu(learning):
    kw = dict(kappa=0.0) if learning == "ottt" else dict(neuron="alif")
    net, x, lab = _setup(**kw)
    g_cpu = _grads(net, x, lab, learning)[2]
    net = net.cuda()
    g_gpu = _grads(net, x.cuda(), lab.cuda(), learning)[2]
    for k in g_cpu:
        assert torch.allclose(g_gpu[k].cpu(), g_cpu[k], rtol=1e-7, atol=1e-9), k


def _toy_data(n=60):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = (torch.rand(n, 28, 28, generator=g) * 60).to(torch.uint8)
    for k in range(10):  # one bright band per class: learnable in one epoch
        images[labels == k, 2 * k:2 * k + 3, :] = 250
    return images, labels, images[:30], labels[:30]


@pytest.mark.parametrize("learning", ["eprop", "ottt"])
def test_trainer_runs_online_rules(tmp_path, learning):
    from hebbtorch.learning import TrainConfig, train

    cfg = TrainConfig(model="lif-mlp", num_steps=4, hidden=16, epochs=2, batch_size=20,
                      optimizer="adam", lr=0.01, schedule="constant", learning=learning,
                      device="cpu")
    res = train(cfg, tmp_path, quiet=True, data=_toy_data())
    first, last = res.history[0], res.history[-1]
    assert last["train_loss"] < first["train_loss"]
    assert res.metrics["config"]["learning"] == learning


def test_trainer_refuses_online_rules_it_cannot_run():
    from hebbtorch.learning import TrainConfig

    with pytest.raises(HebbtorchError, match="trains lif-mlp"):
        TrainConfig(model="lif-conv", learning="eprop").validate()
    with pytest.raises(HebbtorchError, match="learning must be one of"):
        TrainConfig(model="lif-mlp", learning="rtrl").validate()
    with pytest.raises(HebbtorchError, match="one hidden layer"):
        TrainConfig(model="lif-mlp", learning="eprop",
                    model_options={"hidden_layers": 2}).validate()
    TrainConfig(model="lif-mlp", learning="ottt", model_options={"neuron": "alif"}).validate()
    TrainConfig(model="lif-mlp", learning="ottt", model_options={"hidden_layers": 2}).validate()


def test_eprop_window_follows_bptt_window_on_the_two_neuron_protocol():
    """One neuron, no recurrence: e-prop drops only the reset's path, so the windows agree."""
    import numpy as np

    from hebbtorch.studies.bptt_stdp import ProtocolConfig, bptt_window
    from hebbtorch.studies.online_stdp import eprop_window
    from hebbtorch.studies.stdp_fit import pearson

    c = ProtocolConfig(neuron="lif-fast_sigmoid", loss="timing", dts=tuple(range(-30, 31)))
    e, b = np.array(eprop_window(c)["update"]), np.array(bptt_window(c)["update"])
    assert pearson(e, b) > 0.999
    assert not np.allclose(e, b, rtol=1e-6)  # the reset's path is not in the trace
    assert e[np.argmax(np.abs(e))] < 0  # timing loss: depression near coincidence, as BPTT


def test_cue_accumulation_labels_are_the_majority_side():
    from hebbtorch.data.cue_accumulation import cue_accumulation

    trials = cue_accumulation(200, channels=5, p_cue=1.0, p_noise=0.0, seed=3)
    T = trials.x.shape[0]
    assert trials.loss_weights.sum().item() == pytest.approx(1.0)
    assert trials.loss_weights[: T - 10].sum() == 0
    left = trials.x[: T - 30, :, :5].sum((0, 2))
    right = trials.x[: T - 30, :, 5:10].sum((0, 2))
    assert torch.equal((right > left).long(), trials.labels)
    with pytest.raises(HebbtorchError, match="odd"):
        cue_accumulation(4, n_cues=6)


@pytest.mark.parametrize("neuron", ["lif", "alif"])
@pytest.mark.parametrize("kappa", [0.0, 0.9])
def test_eprop_with_rate_regularisation_equals_bptt_on_one_layer(neuron, kappa):
    """The rate term's learning signal is constant over the sequence: exact on one layer too."""
    from hebbtorch.learning.online_net import RateReg

    net, x, lab = _setup(neuron=neuron, kappa=kappa)
    reg = RateReg(c_reg=5.0, f_target=0.02)
    g_b = _grads(net, x, lab, "bptt", rate_reg=reg)[2]
    g_e = _grads(net, x, lab, "eprop", rate_reg=reg)[2]
    g_0 = _grads(net, x, lab, "bptt")[2]
    assert not torch.allclose(g_b["w_in.0.weight"], g_0["w_in.0.weight"], rtol=1e-3)
    for k in g_b:
        assert torch.allclose(g_e[k], g_b[k], **TOL), k


def test_rate_regularisation_pulls_the_rate_to_its_target():
    """Gradient descent on R alone moves every neuron's rate toward f_target."""
    from hebbtorch.learning.online_net import RateReg

    net, x, lab = _setup(T=40, B=8)
    reg = RateReg(c_reg=1.0, f_target=0.1)
    rate0 = net.run(x, counts=True)[2][0].mean(0) / 40
    for _ in range(30):
        net.zero_grad()  # task loss weight 0: only R moves the weights
        grads(net, x, lab, "eprop", weights=torch.zeros(40), rate_reg=reg)
        with torch.no_grad():
            for p in net.parameters():
                p -= 2.0 * p.grad
    rate = net.run(x, counts=True)[2][0].mean(0) / 40
    assert (rate - 0.1).abs().mean() < 0.5 * (rate0 - 0.1).abs().mean()


@pytest.mark.parametrize("neuron", ["lif", "alif"])
def test_eprop_is_bptt_with_recurrent_spikes_stopped(neuron):
    """The trained-network window study writes e-prop's update as -sum_t delta^T X with delta
    from BPTT through z^{t-1} detached in the recurrent current: that equals eprop_grads, and
    with the spikes not detached it equals BPTT."""
    from hebbtorch.studies.online_stdp_trained import current_deltas

    net, x, lab = _setup(neuron=neuron, recurrent=True, kappa=0.9)
    w = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=torch.float64)
    for learning, online in (("eprop", True), ("bptt", False)):
        g = _grads(net, x, lab, learning, weights=w)[2]
        d = current_deltas(net, x, lab, w, online=online)
        g_in = torch.einsum("tbi,tbj->ij", d["delta"], d["input"])
        g_rec = torch.einsum("tbi,tbj->ij", d["delta"], d["recurrent"])
        g_rec.fill_diagonal_(0.0)
        assert torch.allclose(g_in, g["w_in.0.weight"], **TOL), learning
        assert torch.allclose(g_rec, g["w_rec.0.weight"], **TOL), learning
