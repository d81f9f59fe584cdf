"""Supervised classification with the calcium-bistable rule alone (no gradient).

Network (after Brader, Senn & Fusi 2007, Sec. 4, and the description of Girão, Risi & Chicca
2025; sizes, currents and every value are own choices): rate-coded input (Poisson, pixel
intensity x ``max_rate``) -> ``n_classes x k`` LIF output neurons through plastic synapses
(efficacy = X of :mod:`hebbtorch.plasticity.rules.calcium_bistable`).

* Coding-level-dependent inhibition [Brader 2007 / Girão 2025; form own]: every output neuron
  receives ``-g_inh x (number of input spikes this step)``, i.e. inhibition proportional to the
  fraction of active inputs, so the net drive is ``g_exc sum_i (X_i - g_inh/g_exc) s_i``.
* Teacher [Brader 2007]: during training the target class's neurons get ``+I_teach`` and the
  others ``-I_inh_teach``; no teacher at test.
* Stop-learning [Brader 2007]: LTP only while the post calcium C < ``theta_up_h`` (a target
  neuron that already fires strongly stops potentiating), LTD only while C < ``theta_down_h``
  and only after post spikes (a silent non-target neuron, already right, does not change).
* Population vote [Brader 2007]: ``k`` neurons per class, each connected to its own random
  fraction ``p_connect`` of the inputs (a fixed mask); the readout sums a class's spikes.
* Recurrent variant [Girão 2025: recurrent networks; form own]: fixed excitatory connections
  ``w_rec`` between the neurons of the same class population.
* Batching [own choice]: ``batch`` images are presented at once as independent presentations
  sharing the weights; each step's jumps are *summed* over the batch (what ``batch``
  sequential presentations would apply if X changed little within one batch). The bistable
  drift runs once per batch for ``batch x t_present`` ms (the sequential time it stands for).
* Teacher lead [own choice]: in training the teacher is on ``t_lead`` ms before the input
  starts, so a target neuron's calcium is already above ``theta_down_h`` when the first
  presynaptic spikes arrive (without it, LTD in the first inter-spike interval of every target
  neuron outweighed its LTP for short presentations and learning ran backwards).
* Readout [own choice]: the class population with the most spikes; ties (e.g. no spike at all)
  are broken by the summed synaptic drive.
* Contrast normalisation [own choice]: ``input_mean > 0`` scales each image to that mean
  intensity. Oscillation and continuous presentation (``osc_*``, ``continuous``): the timing
  study, :mod:`hebbtorch.studies.calcium_timing`.
* Evaluation: :func:`train` measures the learning curve on a validation split
  (:func:`split_validation`) and the test split once, at the end; :func:`summarize` gives
  mean ± sd over seeds.
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import torch

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.rules.calcium_bistable import (
    CalciumBistableParameters,
    apply_jumps,
    bistable_drift,
    calcium_bistable_jumps,
    efficacy,
    validate_calcium_bistable,
)
from hebbtorch.studies.calcium_frontend import (
    FRONT_ENDS,
    binary_features,
    conv_stdp_network,
    conv_stdp_potentials,
    conv_stdp_size,
    front_end_weights,
    kwta,
)

# The rule's set for this task (own choice, hand-tuned with short runs scored on a validation
# split carved out of mnist-5k's training set): C ~ 0.31 at 90 Hz (teacher alone);
# theta_up_h = 0.42 stops LTP above ~145 Hz (a target neuron its own input already drives);
# LTD only while C < theta_down_h = 0.25 (below ~60 Hz): a neuron the teacher drives (C above
# 0.25 after t_lead) does not depress, a non-target neuron firing up to ~60 Hz does. (With
# theta_down_h = 0.15, ~35 Hz, non-target neurons firing faster escaped LTD and on
# Fashion-MNIST their rates ran away.)
SUPERVISED_RULE = CalciumBistableParameters(
    tau_pre=20.0, J_pre=0.5, tau_Ca=50.0, J_C=0.1, tau_y=20.0, J_y=0.5, a=0.002, b=0.004,
    theta_up_l=0.0, theta_up_h=0.42, theta_down_l=0.0, theta_down_h=0.25,
    alpha=0.0005, beta=0.0005, theta_X=0.5)


class SupervisedConfig(NamedTuple):
    """Times in ms, rates in Hz, currents in units of the firing threshold (v_th = 1)."""

    k: int = 10                 # output neurons per class
    t_present: float = 100.0    # presentation (train and test)
    dt: float = 1.0
    max_rate: float = 100.0     # input rate of a white pixel
    tau_m: float = 20.0
    tau_syn: float = 5.0
    g_exc: float = 0.25         # current per input spike x efficacy
    g_inh: float = 0.125        # coding-level inhibition per input spike
    I_teach: float = 2.5        # teacher current to the target class (alone: ~90 Hz)
    I_inh_teach: float = 0.3    # teacher inhibition of the other classes
    w_rec: float = 0.0          # within-class recurrent excitation (0: feed-forward)
    batch: int = 100
    efficacy: str = "analog"
    p_connect: float = 1.0      # each output neuron sees a random fraction of the inputs
    t_lead: float = 60.0        # training: teacher on this long before the input starts
    input_mean: float = 0.0     # > 0: each image scaled to this mean intensity (contrast norm.)
    osc_hz: float = 0.0         # oscillation frequency (0: none)
    osc_depth: float = 0.0      # input rates x (1 + osc_depth sin(2 pi osc_hz t)): same mean
    osc_amp: float = 0.0        # subthreshold current osc_amp sin(2 pi osc_hz t) to the outputs
    continuous: bool = False    # training: no reset of the network state between images
    expand: int = 0             # > 0: fixed random expansion to this many binary features
    expand_coding: float = 0.1  # fraction of the expansion's features on per image (k-WTA)
    expand_kind: str = "global"  # "global" projection, "local" fields, or "conv-stdp"
    expand_patch: int = 0       # local: patch side (pixels); conv-stdp: positions per map side
    expand_learn: int = 2000    # conv-stdp: images per layer its unsupervised STDP learns on
    expand_norm_eps: float = 0.0  # > 0: response / (eps + patch norm) (0: not normalised)
    jump_decay: float = 1.0     # pass e (0, 1, ...) uses jump sizes a, b x jump_decay^e


# The configurations of the benchmark (bench/calcium_supervised.py), chosen on validation
# splits (one-seed runs): contrast normalisation helped on Fashion-MNIST and made no
# difference on mnist-5k. ``*-expand``: the fixed random expansion layer [own choice, reported
# apart from the paper-like network]; its k-WTA fixes the input coding level, so no contrast
# normalisation there.
_EXPAND = SupervisedConfig(expand=2000, expand_coding=0.1)
# ``*-local``: random local receptive fields (8 x 8 patches, normalised) instead of the global
# projection [own choice; patch 8 and the normalisation chosen by a linear probe on the
# validation split, then confirmed with the rule; on Fashion-MNIST 4000 features were better
# than 2000 on validation, unlike the global projection's]
_LOCAL = _EXPAND._replace(expand_kind="local", expand_patch=8, expand_norm_eps=1.0)
# ``fashion-conv``: the conv-STDP front end [own choice], learned by STDP without labels, then
# fixed; all 150 x 9 x 9 pooled potentials of its last layer, coding level 0.025 (~300 features
# on). Chosen on the Fashion-MNIST validation split (one seed, 80.9 %): 3 x 3 positions per
# map (1350 features) at coding 0.1 / 0.15 / 0.2 gave 74.7 / 75.9 / 78.1 %, at 0.3 and above the
# target neurons' training rate fell below the LTD range's ~60 Hz and learning ran backwards;
# 4 x 4 (0.1) 71.7 %, 5 x 5 (0.1) 51.3 %. Not tuned on mnist-5k.
_CONV = SupervisedConfig(expand=12150, expand_coding=0.025, expand_kind="conv-stdp")
# ``fashion-local-vote``: Brader et al. 2007's population vote on the local fields: 20 neurons
# per class, each on its own random half of the 4000 features, with half the jumps over 24000
# images (4 x the other Fashion-MNIST tasks') and the bistable drift at an eighth of their rate
# (alpha = beta = 6.25e-5 /s: over a pass the drift moves X by 0.15, so the efficacies stay
# graded; at 2.5e-4 /s 62 % of them ended at 0 or 1 after 24000 images and the validation
# accuracy ended at 82.5 %, below the 84.1 % of 12000 images). Chosen on the Fashion-MNIST
# validation split (seed 0, 85.3 %, against 81.5 % for fashion-local; no drift at all 85.7 %,
# within the seed spread, so the rule stays bistable): the vote alone (k 10) 83.4 %, k 40
# 83.3 % (half jumps, 12000 images), 8000 or 16000 features, coding level 0.05 not better.
_VOTE = _LOCAL._replace(expand=4000, k=20, p_connect=0.5)
SLOW_RULE = SUPERVISED_RULE._replace(a=0.001, b=0.002, alpha=0.0000625, beta=0.0000625)
TASK_CONFIGS: dict[str, tuple[SupervisedConfig, CalciumBistableParameters]] = {
    "mnist": (SupervisedConfig(), SUPERVISED_RULE),
    "mnist-recurrent": (SupervisedConfig(w_rec=0.05), SUPERVISED_RULE),
    "fashion": (SupervisedConfig(input_mean=0.15), SUPERVISED_RULE),
    "fashion-recurrent": (SupervisedConfig(input_mean=0.15, w_rec=0.05), SUPERVISED_RULE),
    "mnist-expand": (_EXPAND, SUPERVISED_RULE),
    "mnist-expand-recurrent": (_EXPAND._replace(w_rec=0.05), SUPERVISED_RULE),
    "fashion-expand": (_EXPAND, SUPERVISED_RULE),
    "fashion-expand-recurrent": (_EXPAND._replace(w_rec=0.05), SUPERVISED_RULE),
    "mnist-local": (_LOCAL, SUPERVISED_RULE),
    "mnist-local-recurrent": (_LOCAL._replace(w_rec=0.05), SUPERVISED_RULE),
    "fashion-local": (_LOCAL._replace(expand=4000), SUPERVISED_RULE),
    "fashion-local-recurrent": (_LOCAL._replace(expand=4000, w_rec=0.05), SUPERVISED_RULE),
    "fashion-conv": (_CONV, SUPERVISED_RULE),
    "fashion-local-vote": (_VOTE, SLOW_RULE),
    "fashion-local-vote-recurrent": (_VOTE._replace(w_rec=0.05), SLOW_RULE),
}


def validate_config(c: SupervisedConfig) -> SupervisedConfig:
    for name in ("k", "batch"):
        if int(getattr(c, name)) != getattr(c, name) or getattr(c, name) < 1:
            raise HebbtorchError(f"{name} must be a positive integer, got {getattr(c, name)}")
    check_range("t_lead (ms)", c.t_lead, 0.0)
    for name in ("t_present", "dt", "tau_m", "tau_syn"):
        check_range(f"{name} (ms)", getattr(c, name), 0.0, low_open=True)
    for name in ("max_rate", "g_exc", "g_inh", "I_teach", "I_inh_teach", "w_rec", "osc_hz"):
        check_range(name, getattr(c, name), 0.0)
    check_range("p_connect", c.p_connect, 0.0, 1.0, low_open=True)
    check_range("expand_coding", c.expand_coding, 0.0, 1.0, low_open=True)
    if int(c.expand) != c.expand or c.expand < 0:
        raise HebbtorchError(f"expand must be a non-negative integer, got {c.expand}")
    check_range("input_mean", c.input_mean, 0.0, 1.0)
    check_range("osc_depth", c.osc_depth, 0.0, 1.0)
    check_range("osc_amp", c.osc_amp, 0.0, 1.0, high_open=True)  # subthreshold: below v_th
    if c.max_rate * (1 + c.osc_depth) * c.dt > 1000.0:
        raise HebbtorchError(f"max_rate x (1 + osc_depth) = {c.max_rate * (1 + c.osc_depth):g} "
                             f"Hz exceeds one spike per dt = {c.dt:g} ms")
    if c.expand_kind not in FRONT_ENDS:
        raise HebbtorchError(f"expand_kind must be one of {', '.join(FRONT_ENDS)}, got "
                             f"{c.expand_kind!r}")
    check_range("expand_norm_eps", c.expand_norm_eps, 0.0)
    if int(c.expand_learn) != c.expand_learn or c.expand_learn < 1:
        raise HebbtorchError(f"expand_learn must be a positive integer, got {c.expand_learn}")
    check_range("jump_decay", c.jump_decay, 0.0, 1.0, low_open=True)
    if c.efficacy not in ("analog", "binary"):
        raise HebbtorchError(f"efficacy must be 'analog' or 'binary', got {c.efficacy!r}")
    return c


class NetState(NamedTuple):
    """The network state ``[batch, n]`` carried between images in continuous presentation:
    membrane ``v``, synaptic current, post calcium ``ca``, fast post trace ``y``, last output
    spikes, pre calcium ``x`` ``[batch, n_in]``, and the time ``t`` (ms, oscillation phase)."""

    v: torch.Tensor
    i_syn: torch.Tensor
    ca: torch.Tensor
    y: torch.Tensor
    s_out: torch.Tensor
    x: torch.Tensor
    t: float


class Presentation(NamedTuple):
    """One batch: output spike counts ``[batch, out]``, summed drive ``[batch, out]``, input
    spike count ``[batch]``, the new X, the network state at the end."""

    counts: torch.Tensor
    drive: torch.Tensor
    n_in: torch.Tensor
    X: torch.Tensor
    state: NetState


def zero_state(batch: int, n_in: int, n_out: int, like: torch.Tensor) -> NetState:
    z = like.new_zeros(batch, n_out)
    return NetState(z, z, z, z, z, like.new_zeros(batch, n_in), 0.0)


def normalise(images: torch.Tensor, c: SupervisedConfig) -> torch.Tensor:
    """Contrast normalisation [own choice]: each image scaled to mean intensity ``input_mean``
    (clipped to 1), so the total input rate no longer depends on how much ink an image has."""
    if c.input_mean <= 0:
        return images
    scale = c.input_mean / images.mean(1, keepdim=True).clamp_min(1e-6)
    return (images * scale).clamp(0.0, 1.0)


def front_end(c: SupervisedConfig, seed: int, *images: torch.Tensor | None
              ) -> list[torch.Tensor | None]:
    """The binary features of each of ``images`` ``[N, n_in]`` (None stays None) through the
    fixed front end ``c.expand_kind`` (global or local) drawn from ``seed``
    (:mod:`.calcium_frontend`)."""
    n_in = next(x for x in images if x is not None).shape[1]
    R = front_end_weights(n_in, c.expand, seed, c.expand_kind, c.expand_patch)
    return [None if x is None else binary_features(x, R, c.expand_coding, c.expand_norm_eps or None)
            for x in images]


def present(X: torch.Tensor, images: torch.Tensor, labels: torch.Tensor | None,
            c: SupervisedConfig, p: CalciumBistableParameters, gen: torch.Generator,
            learn: bool, mask: torch.Tensor | None = None,
            state: NetState | None = None) -> Presentation:
    """Simulate one batch of images ``[batch, n_in]`` (intensities in [0, 1]); with ``learn``
    the teacher is on (needs ``labels``) and X changes (module docstring). ``mask``
    ``[n_in, n_out]`` (float 0/1): the synapses that exist (None: all). ``state``: continue
    from this network state (continuous presentation; None: from rest)."""
    B, n_in = images.shape
    n_out, dev = X.shape[1], X.device
    n_cls = n_out // c.k
    dm, ds = math.exp(-c.dt / c.tau_m), math.exp(-c.dt / c.tau_syn)
    d_pre, d_ca, d_y = (math.exp(-c.dt / t) for t in (p.tau_pre, p.tau_Ca, p.tau_y))
    prob = normalise(images, c) * (c.max_rate * c.dt / 1000.0)
    teach = torch.zeros(B, n_out, device=dev)
    if learn:
        onehot = torch.nn.functional.one_hot(labels, n_cls).float().repeat_interleave(c.k, 1)
        teach = c.I_teach * onehot - c.I_inh_teach * (1 - onehot)
    rec = None
    if c.w_rec > 0:
        blocks = torch.block_diag(*[torch.ones(c.k, c.k, device=dev)] * n_cls)
        rec = c.w_rec * (blocks - torch.eye(n_out, device=dev))
    v, i_syn, ca, y, s_out, x, t = state or zero_state(B, n_in, n_out, X)
    counts, drive, n_spk = X.new_zeros(B, n_out), X.new_zeros(B, n_out), X.new_zeros(B)

    def eff(X: torch.Tensor) -> torch.Tensor:
        W = efficacy(X, p, c.efficacy)
        return W if mask is None else W * mask

    W = eff(X)
    lead = round(c.t_lead / c.dt) if learn else 0
    for step in range(lead + round(c.t_present / c.dt)):
        phase = math.sin(2 * math.pi * c.osc_hz * t / 1000.0)
        s_in = (torch.rand(B, n_in, generator=gen, device=dev)
                < prob * (1 + c.osc_depth * phase)).float()
        if step < lead:  # the teacher alone: the post calcium settles before pre spikes come
            s_in.zero_()
        n = s_in.sum(1, keepdim=True)
        # coding-level-dependent inhibition: proportional to the active (connected) inputs
        inp = c.g_exc * (s_in @ W) - c.g_inh * (n if mask is None else s_in @ mask)
        if rec is not None:
            inp = inp + s_out @ rec
        i_syn = i_syn * ds + inp
        drive += i_syn
        v = v * dm + (1 - dm) * (i_syn + teach + c.osc_amp * phase)
        s_out = (v >= 1.0).float()
        v = v * (1 - s_out)
        counts += s_out
        n_spk += n[:, 0]
        x, ca, y = x * d_pre, ca * d_ca, y * d_y  # decayed: the traces "before" this step
        ca_after = ca + p.J_C * s_out * (1 - ca)
        if learn:
            (lp, lq), (dp, dq) = calcium_bistable_jumps(s_in, s_out, x, y, ca, ca_after, p)
            X = apply_jumps(X, lp.T @ lq, dp.T @ dq, p)  # summed over the batch
            W = eff(X)
        x = x + p.J_pre * s_in * (1 - x)
        y = y + p.J_y * s_out * (1 - y)
        ca = ca_after
        t += c.dt
    if learn:
        X = bistable_drift(X, p, B * c.t_present)
    return Presentation(counts, drive, n_spk, X, NetState(v, i_syn, ca, y, s_out, x, t))


def predict(counts: torch.Tensor, drive: torch.Tensor, k: int) -> torch.Tensor:
    """Class with the most spikes (ties broken by the summed drive, scaled below one spike)."""
    B, n = counts.shape
    cls_counts = counts.view(B, n // k, k).sum(2)
    cls_drive = drive.view(B, n // k, k).sum(2)
    tie = cls_drive / (cls_drive.abs().amax(1, keepdim=True) + 1e-9) * 0.5
    return (cls_counts + tie).argmax(1)


def evaluate(X: torch.Tensor, images: torch.Tensor, labels: torch.Tensor, c: SupervisedConfig,
             p: CalciumBistableParameters, gen: torch.Generator,
             mask: torch.Tensor | None = None) -> dict[str, float]:
    """Accuracy (spike counts; ``accuracy_by_drive``: by summed synaptic drive, a non-spiking
    readout for comparison), mean output rate (Hz), output coding level (fraction of output
    neurons with >= 1 spike per image), input coding level (fraction of non-zero pixels), mean
    input rate (Hz per input, measured spikes)."""
    correct, by_drive, rate, code_out, code_in, rate_in = 0, 0, 0.0, 0.0, 0.0, 0.0
    for i in range(0, len(labels), c.batch):
        r = present(X, images[i:i + c.batch], None, c, p, gen, learn=False, mask=mask)
        pred = predict(r.counts, r.drive, c.k)
        want = labels[i:i + c.batch].to(X.device)
        correct += int((pred == want).sum())
        drive = r.drive.view(len(want), -1, c.k).sum(2)
        by_drive += int((drive.argmax(1) == want).sum())
        rate += float(r.counts.sum()) / X.shape[1] / (c.t_present / 1000.0)
        code_out += float((r.counts > 0).float().mean(1).sum())
        code_in += float((images[i:i + c.batch] > 0).float().mean(1).sum())
        rate_in += float(r.n_in.sum()) / images.shape[1] / (c.t_present / 1000.0)
    n = len(labels)
    return {"accuracy": correct / n, "accuracy_by_drive": by_drive / n,
            "mean_rate_hz": rate / n, "coding_level_out": code_out / n,
            "coding_level_in": code_in / n, "input_rate_hz": rate_in / n}


def train(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
          val_y: torch.Tensor, test_x: torch.Tensor | None = None,
          test_y: torch.Tensor | None = None, *, n_classes: int = 10,
          config: SupervisedConfig | None = None, params: CalciumBistableParameters | None = None,
          epochs: int = 1, seed: int = 0, eval_every: int = 1000,
          device: torch.device | str = "cpu", log: Any = None, keep_X: bool = False
          ) -> dict[str, Any]:
    """Train on ``train_x [N, n_in]`` (intensities in [0, 1]); the learning curve (accuracy vs
    images seen, rates, coding levels) is measured on the validation split ``val_x`` after
    every ``eval_every`` images; the test split, if given, is evaluated once, at the end
    (``result["test"]``), so nothing is ever chosen on it. ``keep_X``: return the learned X
    and the connection mask (``result["X"]``, ``["mask"]``, tensors: not JSON)."""
    c = validate_config(config or SupervisedConfig())
    p = validate_calcium_bistable(params or SUPERVISED_RULE)
    n_in = train_x.shape[-1]
    for name, x in (("train_x", train_x), ("val_x", val_x), ("test_x", test_x)):
        if x is not None and (x.dim() != 2 or x.shape[1] != n_in):
            raise HebbtorchError(f"{name} must be [N, {n_in}] like train_x, got "
                                 f"{list(x.shape)}")
    if (test_x is None) != (test_y is None):
        raise HebbtorchError("give both test_x and test_y, or neither")
    if c.expand and c.expand_kind == "conv-stdp":  # learned by STDP first, no labels
        n_feat = conv_stdp_size(n_in, c.expand_patch)  # checks the shapes before learning
        if c.expand != n_feat:
            raise HebbtorchError(f"the conv-STDP front end with expand_patch = "
                                 f"{c.expand_patch} gives {n_feat} features: set expand = "
                                 f"{n_feat}, got {c.expand}")
        net = conv_stdp_network(train_x, seed, c.expand_learn, device)
        train_x, val_x, test_x = (  # ties broken at random, a different stream per split
            None if x is None else kwta(conv_stdp_potentials(net, x, c.expand_patch),
                                        c.expand_coding, 90_000 + 3 * seed + j)
            for j, x in enumerate((train_x, val_x, test_x)))
    elif c.expand:  # the fixed front end [own choice]: the plastic layer sees its features
        train_x, val_x, test_x = front_end(c, seed, train_x, val_x, test_x)
    n_in = c.expand or n_in
    gen = torch.Generator(device=device).manual_seed(seed)
    X = 0.5 + 0.01 * torch.randn(n_in, n_classes * c.k, generator=gen, device=device)
    X = X.clamp(0, 1)
    mask = None
    if c.p_connect < 1.0:
        mask = (torch.rand(X.shape, generator=gen, device=device) < c.p_connect).float()
    train_x, train_y = train_x.to(device), train_y.to(device)
    curve: list[dict[str, float]] = []
    seen, t0, train_rates, dx, state = 0, time.process_time(), [], [], None
    for epoch in range(epochs):
        order = torch.randperm(len(train_y), generator=gen, device=device)
        decay = c.jump_decay ** epoch  # smaller jumps in later passes [own choice]
        p_epoch = p._replace(a=p.a * decay, b=p.b * decay)
        for i in range(0, len(order), c.batch):
            idx = order[i:i + c.batch]
            r = present(X, train_x[idx], train_y[idx], c, p_epoch, gen, learn=True, mask=mask,
                        state=state if c.continuous and len(idx) == c.batch else None)
            state = r.state
            dx.append(float((r.X - X).abs().sum()) / len(idx))
            X = r.X
            seen += len(idx)
            onehot = torch.nn.functional.one_hot(train_y[idx], n_classes).bool()
            per_cls = r.counts.view(len(idx), n_classes, c.k).mean(2) / (c.t_present / 1e3)
            train_rates.append((float(per_cls[onehot].mean()), float(per_cls[~onehot].mean()),
                                float(r.n_in.mean()) / train_x.shape[1] / (c.t_present / 1e3)))
            if seen % eval_every < c.batch or i + c.batch >= len(order):
                ev = evaluate(X, val_x.to(device), val_y.to(device), c, p, gen, mask)
                since = train_rates[-len(dx):]  # the batches since the last evaluation
                curve.append({"images_seen": seen, **ev,
                              "abs_dX_per_image": sum(dx) / len(dx),
                              "train_rate_target_hz": _column_mean(since, 0),
                              "train_rate_other_hz": _column_mean(since, 1)})
                dx = []
                if log:
                    log(f"{seen} images: validation {ev['accuracy']:.4f}, "
                        f"rate {ev['mean_rate_hz']:.1f} Hz")
    tail = train_rates[-max(1, len(train_rates) // 10):]
    res = {"config": c._asdict(), "rule": p._asdict(), "epochs": epochs, "seed": seed,
           "n_train": len(train_y), "n_val": len(val_y), "curve": curve,
           "final": curve[-1], "cpu_s": time.process_time() - t0,
           "train_rate_target_hz": _column_mean(tail, 0),
           "train_rate_other_hz": _column_mean(tail, 1),
           "train_rate_input_hz": _column_mean(train_rates, 2),
           "train_rate_target_all_hz": _column_mean(train_rates, 0),
           "train_rate_other_all_hz": _column_mean(train_rates, 1),
           "X_mean": float(X.mean()), "X_up_fraction": float((X > p.theta_X).float().mean())}
    if test_x is not None:
        res |= {"n_test": len(test_y),
                "test": evaluate(X, test_x.to(device), test_y.to(device), c, p, gen, mask)}
    if keep_X:
        res |= {"X": X, "mask": mask}
    return res


def _column_mean(rows: list[tuple[float, ...]], i: int) -> float:
    """Mean of entry ``i`` over ``rows`` (per-batch training rates: target, other, input)."""
    return sum(e[i] for e in rows) / len(rows)


def split_validation(x: torch.Tensor, y: torch.Tensor, n_val: int, seed: int = 0
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, val_x, val_y): ``n_val`` images drawn at random (``seed``, fixed
    across training seeds so every run is tuned on the same images) out of the training set."""
    if not 0 < n_val < len(y):
        raise HebbtorchError(f"n_val must be in 1..{len(y) - 1}, got {n_val}")
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    tr, va = perm[n_val:], perm[:n_val]
    return x[tr], y[tr], x[va], y[va]


def load_split(name: str, n_train: int | None, n_val: int, n_extra: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, val_x, val_y) of dataset ``name``: ``n_val`` validation images drawn
    (:func:`split_validation`) out of its first ``n_train`` training images (None: all); the
    training part is followed by the ``n_extra`` images after those, so the validation split
    does not depend on ``n_extra``."""
    x, y = load_flat(name, "train", None if n_train is None else n_train + n_extra)
    n = len(y) if n_train is None else min(n_train, len(y))
    xtr, ytr, xva, yva = split_validation(x[:n], y[:n], n_val)
    return torch.cat([xtr, x[n:]]), torch.cat([ytr, y[n:]]), xva, yva


def summarize(runs: list[dict[str, Any]], split: str = "test") -> dict[str, float]:
    """Mean and sample sd over seeds of every number of ``run[split]`` (``"test"``, or
    ``"final"`` for the last validation point): ``{key}_mean``, ``{key}_sd``."""
    out: dict[str, float] = {}
    for key in runs[0][split]:
        vals = torch.tensor([float(r[split][key]) for r in runs], dtype=torch.float64)
        out[f"{key}_mean"] = float(vals.mean())
        out[f"{key}_sd"] = float(vals.std()) if len(runs) > 1 else 0.0
    return out


def load_flat(name: str, split: str, limit: int | None = None, root: str | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """A dataset as ``[N, H*W]`` intensities in [0, 1] and labels (the first ``limit``)."""
    from hebbtorch.data import load_dataset

    ds = load_dataset(name, split, root=root)
    x, y = ds.images, ds.labels
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x.flatten(1).float() / 255.0, y
