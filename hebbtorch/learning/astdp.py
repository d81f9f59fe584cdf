"""Approximate STDP (aSTDP): supervised and unsupervised learning of multi-layer spiking networks
with pair-STDP weight changes only, after Shiyuan Li, "aSTDP: A More Biologically Plausible
Learning" (arXiv 2206.14137, 2022) and its predecessor MSTDP (arXiv 1912.00009).

What the paper states (abstract; its equations were not at hand when this was written): every
neuron learns with STDP only, with no global loss; each neuron's derivative is approximated
numerically and used to set a *target* for the neuron, which speeds training and testing; the
model works like an auto-encoder (each input neuron is also an output neuron), so one model
predicts labels and generates patterns without reconfiguration. **Everything below beyond that is
this module's own design**, documented here and in ``docs/astdp.md``:

Network. Layers ``0..L`` of discrete-time LIF neurons (:func:`hebbtorch.neurons.lif.lif_step`,
subtract reset) with Gaussian current noise of std ``noise`` per step, which makes the
rate-current curve ``f(I)`` smooth. Layer 0 = pixels, layer L = label neurons. Bottom-up
(recognition) synapses ``W[l]`` ``[n_{l-1} + 1, n_l]`` carry layer l-1 to layer l; top-down
(generative) synapses ``V[l]`` ``[n_l + 1, n_{l-1}]`` carry layer l back to layer l-1. The extra
row is a bias neuron that spikes every step. So pixels and labels are each both inputs and
outputs: classification runs bottom-up from clamped pixels, generation runs top-down from
clamped label neurons -- the same neurons and synapses, no reconfiguration.

1. Free phase: pixels spike as Bernoulli(``input_rate`` * intensity) for ``steps`` steps; each
   layer is simulated in turn; rates ``r_l`` (spikes per step) and mean input currents ``I_l``.
2. Numerical derivative per neuron, ``d_l = f'(I_l)``: central finite difference either of a
   rate-current curve measured once by simulating the neuron model (``derivative="curve"``,
   :class:`RateCurve`) or of the neuron's own rate in two perturbed re-simulations with input
   currents ``I +- eps`` and the same noise (``derivative="perturb"``).
3. Targets, top-down: label neurons get ``t_L = rate_on`` for the label, ``rate_off`` otherwise
   (supervised clamp). Below, a neuron's target is its rate plus its derivative times the error
   of the layer above sent back through the *same* synapses that carried its spikes up:
   ``t_l = clip(r_l + gain * d_l * ((t_{l+1} - r_{l+1}) @ W[l+1]^T), 0, 1)``. In unsupervised
   mode the error comes instead from reconstructing the layer below through ``V[l]``
   (auto-encoding: ``e = r_{l-1} - g_{l-1}``, ``t_l = r_l + gain * d_l * (e @ V[l]^T)``); the
   label layer then only trains its own synapses (a local read-out).
4. Nudged phase: every neuron is re-simulated with the same presynaptic spikes and noise plus a
   constant extra current ``(t - r) / d`` (the derivative turns the rate error into the current
   that moves the neuron to its target in one step -- this is where the derivative "speeds
   training"), clipped to ``+-max_nudge``.
5. Weight change = pair STDP -- the registered rule ``astdp`` (a
   :class:`~hebbtorch.plasticity.PairSTDP` with window ``A_plus exp(-dt/tau_plus)`` /
   ``-A_minus exp(dt/tau_minus)``, all-to-all traces of :mod:`hebbtorch.plasticity.core`) --
   accumulated over the nudged phase minus the same over the free phase
   (:func:`stdp_contrast`); weights are clipped to ``[-weight_clip, weight_clip]`` by the
   core's hard bounds. For independent spike
   trains the expected pair-STDP change per step is ``c * rho_pre * nu_post`` with
   ``c = A+ q+/(1-q+) - A- q-/(1-q-)``, ``q = exp(-dt/tau)``, so the contrast is on average the
   delta rule ``c * rho_pre * (nu_target - nu_free)``; it is divided by ``c * batch * steps``
   so ``lr`` is the learning rate of that delta rule. The window must be net-potentiating
   (``c > 0``); causal pre->post correlations appear in both phases and mostly cancel.
6. The generative synapses learn with the same rule: layer l-1 driven top-down from layer l's
   bottom-up spikes (or from the clamped label spikes) is nudged toward its bottom-up rate.

Generation (:meth:`ASTDPNetwork.generate`): clamp the label neurons (Bernoulli ``rate_on`` for the
chosen label), run the layers top-down through ``V``; the pixel rates / ``input_rate`` are the
image. Not done: the paper's iterative (momentum) inference and its use of targets to speed up
testing; prediction here is one bottom-up pass (argmax of label spike counts).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from hebbtorch.checks import check_ndim, check_range, check_tensor_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.neurons.lif import LIFParameters, LIFState, lif_step
from hebbtorch.plasticity.core import WeightBounds, clip_, traces_before
from hebbtorch.plasticity.rules.pair import ASTDP_WINDOW, PairSTDP, PairSTDPParameters

MODES = ("supervised", "unsupervised", "hybrid")
DERIVATIVES = ("curve", "perturb")


@dataclass
class ASTDPConfig:
    """Hyper-parameters (rates in spikes per step, currents in units of the threshold).

    ``sizes``: layer sizes, pixels first, labels last. ``tau_plus``/``tau_minus`` in ms with
    step ``dt`` ms; ``A_plus``/``A_minus`` scale the window (only their ratio and the taus matter
    after normalisation, see the module docstring); defaults: the registered ``astdp`` rule
    (:data:`~hebbtorch.plasticity.rules.pair.ASTDP_WINDOW`)."""

    sizes: tuple[int, ...] = (784, 256, 10)
    steps: int = 24
    beta: float = 0.8
    threshold: float = 1.0
    noise: float = 0.3
    input_rate: float = 0.5
    rate_on: float = 0.6
    rate_off: float = 0.02
    lr: float = 0.02
    gen_lr: float = 0.02
    gain: float = 1.0
    max_nudge: float = 2.0
    min_derivative: float = 0.05
    mode: str = "supervised"
    derivative: str = "curve"
    eps: float = 0.1
    dt: float = 1.0
    tau_plus: float = ASTDP_WINDOW.tau_plus
    tau_minus: float = ASTDP_WINDOW.tau_minus
    A_plus: float = ASTDP_WINDOW.A_plus
    A_minus: float = ASTDP_WINDOW.A_minus
    init_scale: float = 1.0
    weight_clip: float = 2.0
    extra: dict = field(default_factory=dict)

    def validate(self) -> ASTDPConfig:
        self.sizes = tuple(int(s) for s in self.sizes)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise HebbtorchError(f"sizes needs >= 2 positive layer sizes, got {self.sizes}")
        if int(self.steps) < 2:
            raise HebbtorchError(f"steps must be >= 2, got {self.steps}")
        check_range("beta", self.beta, 0.0, 1.0)
        check_range("threshold", self.threshold, 0.0, low_open=True)
        check_range("noise", self.noise, 0.0)
        for name in ("input_rate", "rate_on", "rate_off"):
            check_range(name, getattr(self, name), 0.0, 1.0)
        for name in ("lr", "gen_lr", "gain", "max_nudge", "min_derivative", "eps", "dt",
                     "tau_plus", "tau_minus", "init_scale", "weight_clip"):
            check_range(name, getattr(self, name), 0.0)
        for name in ("eps", "dt", "tau_plus", "tau_minus"):
            check_range(name, getattr(self, name), 0.0, low_open=True)
        if self.mode not in MODES:
            raise HebbtorchError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.derivative not in DERIVATIVES:
            raise HebbtorchError(
                f"derivative must be one of {DERIVATIVES}, got {self.derivative!r}")
        if stdp_scale(self.stdp) <= 0:
            raise HebbtorchError(
                "the STDP window must be net-potentiating for independent spikes "
                "(A_plus q+/(1-q+) > A_minus q-/(1-q-), q = exp(-dt/tau)); "
                f"got A_plus={self.A_plus:g}, A_minus={self.A_minus:g}")
        return self

    @property
    def stdp(self) -> PairSTDPParameters:
        return PairSTDPParameters(self.tau_plus, self.tau_minus, self.A_plus, self.A_minus)

    @property
    def rule(self) -> PairSTDP:
        """The plasticity rule the synapses learn with (the registry's ``astdp`` window with
        this config's taus and amplitudes)."""
        return PairSTDP(self.stdp)

    @property
    def bounds(self) -> WeightBounds:
        return WeightBounds(-self.weight_clip, self.weight_clip)

    def lif(self) -> LIFParameters:
        return LIFParameters(beta=self.beta, threshold=self.threshold, reset="subtract")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = list(self.sizes)
        return d


# ---------------------------------------------------------------------------------------------
# numerical derivatives


def finite_difference(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                      eps: float = 1e-3) -> torch.Tensor:
    """Elementwise central difference ``(f(x + eps) - f(x - eps)) / (2 eps)`` of an elementwise
    function ``f`` (a neuron's rate as a function of its input current)."""
    check_range("eps", eps, 0.0, low_open=True)
    return (f(x + eps) - f(x - eps)) / (2.0 * eps)


def simulate_rates(currents: torch.Tensor, noise: torch.Tensor, p: LIFParameters) -> torch.Tensor:
    """Spikes ``[T, B, N]`` of LIF neurons driven by ``currents + noise`` (both ``[T, B, N]``)."""
    state = LIFState(torch.zeros_like(currents[0]), torch.zeros_like(currents[0]))
    out = torch.empty_like(currents)
    for t in range(currents.shape[0]):
        s, _, state = lif_step(currents[t] + noise[t], state, p)
        out[t] = s
    return out


_CURVE_CACHE: dict[tuple, torch.Tensor] = {}


class RateCurve:
    """Rate-current curve ``f(I)`` (spikes per step) of a noisy LIF neuron, measured once by
    simulation on a grid, with its numerical derivative (central differences of the table).

    ``lo``/``hi``: current range; outside it ``f`` is held constant (derivative 0).
    """

    def __init__(self, p: LIFParameters | None = None, noise: float = 0.0, *, lo: float = -2.0,
                 hi: float = 4.0, points: int = 241, steps: int = 2000, repeats: int = 16,
                 seed: int = 0,
                 rate_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        if p is None and rate_fn is None:
            raise HebbtorchError("RateCurve needs LIF parameters or a rate function")
        if not hi > lo or points < 3:
            raise HebbtorchError(
                f"RateCurve needs lo < hi and >= 3 points, got {lo}, {hi}, {points}")
        self.lo, self.hi, self.points = float(lo), float(hi), int(points)
        self.grid = torch.linspace(lo, hi, points)
        if rate_fn is not None:  # a given smooth rate function (used to test the differencing)
            rates = rate_fn(self.grid).detach().float()
        else:
            key = (float(p.beta), float(p.threshold), p.reset, float(noise), lo, hi, points,
                   steps, repeats, seed)
            if key not in _CURVE_CACHE:
                g = torch.Generator().manual_seed(seed)
                cur = self.grid.expand(steps, repeats, points)
                nz = noise * torch.randn(steps, repeats, points, generator=g)
                with torch.no_grad():
                    _CURVE_CACHE[key] = simulate_rates(cur, nz, p).mean(dim=(0, 1))
            rates = _CURVE_CACHE[key]
        if rate_fn is None:  # light smoothing of the sampling noise of a simulated curve
            k = torch.tensor([0.25, 0.5, 0.25])
            padded = torch.cat([rates[:1], rates, rates[-1:]])
            smooth = (padded.unfold(0, 3, 1) * k).sum(1)
            smooth[0], smooth[-1] = rates[0], rates[-1]
            rates = smooth
        self.rates = rates
        h = (hi - lo) / (points - 1)
        slopes = torch.gradient(self.rates, spacing=h)[0]  # central differences
        self.slopes = slopes if rate_fn is not None else slopes.clamp(min=0.0)

    def _interp(self, table: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        table = table.to(current.device, current.dtype)
        pos = ((current - self.lo) / (self.hi - self.lo) * (self.points - 1)).clamp(
            0, self.points - 1)
        i = pos.floor().long().clamp(max=self.points - 2)
        w = pos - i
        return table[i] * (1 - w) + table[i + 1] * w

    def rate(self, current: torch.Tensor) -> torch.Tensor:
        return self._interp(self.rates, current)

    def derivative(self, current: torch.Tensor) -> torch.Tensor:
        out = self._interp(self.slopes, current)
        outside = (current < self.lo) | (current > self.hi)
        return torch.where(outside, torch.zeros_like(out), out)


# ---------------------------------------------------------------------------------------------
# STDP contrast


def stdp_scale(p: PairSTDPParameters, dt: float = 1.0) -> float:
    """Expected pair-STDP change per step per unit ``rho_pre * nu_post`` for independent spike
    trains: ``A+ q+/(1-q+) - A- q-/(1-q-)`` with ``q = exp(-dt/tau)`` (traces taken before the
    step's own spikes, as in the plasticity engine)."""
    qp, qm = math.exp(-dt / p.tau_plus), math.exp(-dt / p.tau_minus)
    return p.A_plus * qp / (1 - qp) - p.A_minus * qm / (1 - qm)


def stdp_contrast(pre: torch.Tensor, post_nudged: torch.Tensor, post_free: torch.Tensor,
                  rule: PairSTDP | PairSTDPParameters, dt: float = 1.0) -> torch.Tensor:
    """Pair-STDP weight change summed over time and batch with ``post_nudged`` minus the same
    with ``post_free``, for one shared presynaptic train ``pre`` ``[T, B, P]`` (posts
    ``[T, B, Q]``); returns ``[P, Q]``. Equals summing
    :func:`hebbtorch.plasticity.pair_stdp_step` (LTP - LTD) over steps and samples for both
    runs and subtracting, computed with two matrix products instead of ``T * B`` outer products.
    ``rule``: a :class:`~hebbtorch.plasticity.PairSTDP` (its traces, from the core) or its
    parameters; all-to-all only (the learner's normalisation, :func:`stdp_scale`, assumes it).
    """
    rule = rule if isinstance(rule, PairSTDP) else PairSTDP(rule)
    p = rule.params
    if p.interaction != "all_to_all":
        raise HebbtorchError(f"aSTDP's contrast takes all-to-all pair STDP, got "
                             f"{p.interaction!r} traces")
    check_ndim("pre", pre, 3, "[time, batch, pre]")
    if post_nudged.shape != post_free.shape or post_free.shape[:2] != pre.shape[:2]:
        raise HebbtorchError(
            f"post spikes {tuple(post_nudged.shape)} / {tuple(post_free.shape)} must share "
            f"[time, batch] with pre {tuple(pre.shape)} and each other")
    T, B, P = pre.shape
    Q = post_free.shape[2]
    (x_spec,), (y_spec,) = rule.pre_traces, rule.post_traces
    x_pre = traces_before(pre, x_spec, dt).reshape(T * B, P)
    d_post = (post_nudged - post_free).reshape(T * B, Q)
    y_diff = (traces_before(post_nudged, y_spec, dt)
              - traces_before(post_free, y_spec, dt)).reshape(T * B, Q)
    return p.A_plus * (x_pre.T @ d_post) - p.A_minus * (pre.reshape(T * B, P).T @ y_diff)


# ---------------------------------------------------------------------------------------------
# the network


def _with_bias(s: torch.Tensor) -> torch.Tensor:
    return torch.cat([s, torch.ones_like(s[..., :1])], dim=-1)


def _drive(pre: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Synaptic current ``[T, B, Q]`` from presynaptic spikes ``[T, B, P]`` (+ bias neuron)."""
    T, B, _ = pre.shape
    return (_with_bias(pre).reshape(T * B, -1) @ w).reshape(T, B, -1)


class ASTDPNetwork(nn.Module):
    """Multi-layer spiking network trained by aSTDP (see the module docstring).

    ``W[l-1]`` (l = 1..L): bottom-up synapses ``[n_{l-1} + 1, n_l]``; ``V[l-1]``: top-down
    synapses ``[n_l + 1, n_{l-1}]``. Weights are frozen parameters (``requires_grad=False``):
    only :meth:`train_batch` changes them, by STDP.
    """

    def __init__(self, config: ASTDPConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config.validate()
        g = torch.Generator().manual_seed(seed)
        sizes = config.sizes
        W, V = [], []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            w = torch.randn(a + 1, b, generator=g) * config.init_scale / math.sqrt(a)
            w[-1] = 0.0
            W.append(nn.Parameter(w, requires_grad=False))
            v = torch.randn(b + 1, a, generator=g) * config.init_scale / math.sqrt(b) * 0.1
            v[-1] = 0.0
            V.append(nn.Parameter(v, requires_grad=False))
        self.W = nn.ParameterList(W)
        self.V = nn.ParameterList(V)
        self.curve = RateCurve(config.lif(), config.noise, seed=seed)
        self.rule, self.bounds = config.rule, config.bounds
        self.stats: dict[str, float] = {}

    # -- simulation ---------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return len(self.config.sizes) - 1

    def encode(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Images ``[B, ...]`` in [0, 1] -> pixel spikes ``[T, B, n_0]`` (Bernoulli)."""
        x = images.reshape(images.shape[0], -1).float()
        if x.shape[1] != self.config.sizes[0]:
            raise HebbtorchError(f"images have {x.shape[1]} pixels, the network expects "
                                 f"{self.config.sizes[0]}")
        check_tensor_range("images", x, 0.0, 1.0)
        p = (x * self.config.input_rate).expand(self.config.steps, *x.shape)
        return torch.bernoulli(p, generator=generator)

    def label_spikes(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        c = self.config
        onehot = torch.nn.functional.one_hot(labels, c.sizes[-1]).float()
        rate = onehot * c.rate_on + (1 - onehot) * c.rate_off
        return torch.bernoulli(rate.expand(c.steps, *rate.shape), generator=generator)

    def _noise(self, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return self.config.noise * torch.randn(like.shape, generator=generator,
                                               device=like.device, dtype=like.dtype)

    def _derivative(self, currents: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """f'(I) per neuron ``[B, N]`` at the neuron's mean current."""
        c = self.config
        if c.derivative == "curve":
            return self.curve.derivative(currents.mean(0))
        p = c.lif()
        return finite_difference(lambda i: simulate_rates(i, noise, p).mean(0), currents, c.eps)

    @torch.no_grad()
    def forward_pass(self, pixel_spikes: torch.Tensor, generator: torch.Generator | None = None):
        """Bottom-up free phase: lists (one entry per layer 0..L) of spikes, currents, noise."""
        p = self.config.lif()
        spikes, currents, noises = [pixel_spikes], [None], [None]
        for w in self.W:
            cur = _drive(spikes[-1], w)
            nz = self._noise(cur, generator)
            spikes.append(simulate_rates(cur, nz, p))
            currents.append(cur)
            noises.append(nz)
        return spikes, currents, noises

    @torch.no_grad()
    def predict(self, images: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Label scores ``[B, n_L]``: label spike counts (+ a tiny mean-current tie-break)."""
        spikes, currents, _ = self.forward_pass(self.encode(images, generator), generator)
        return spikes[-1].sum(0) + 1e-3 * torch.tanh(currents[-1].mean(0))

    @torch.no_grad()
    def generate(self, labels: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Clamp label neurons to ``labels`` ``[B]`` and run top-down: images ``[B, n_0]`` in [0, 1]
        (pixel spike rate / ``input_rate``)."""
        c = self.config
        labels = labels.long()
        if labels.dim() != 1 or bool((labels < 0).any()) or bool((labels >= c.sizes[-1]).any()):
            raise HebbtorchError(f"labels must be a 1-D tensor of ints in [0, {c.sizes[-1]})")
        p = c.lif()
        s = self.label_spikes(labels, generator)
        for v in reversed(self.V):
            cur = _drive(s, v)
            s = simulate_rates(cur, self._noise(cur, generator), p)
        return (s.mean(0) / max(c.input_rate, 1e-9)).clamp(0.0, 1.0)

    # -- learning -----------------------------------------------------------------------------
    def _nudge(self, cur: torch.Tensor, noise: torch.Tensor, rate: torch.Tensor,
               target: torch.Tensor, deriv: torch.Tensor) -> torch.Tensor:
        c = self.config
        extra = (target - rate) / deriv.clamp(min=c.min_derivative)
        extra = extra.clamp(-c.max_nudge, c.max_nudge)
        return simulate_rates(cur + extra, noise, c.lif())

    def _stdp_update(self, w: torch.Tensor, pre, post_n, post_f, lr: float) -> float:
        c = self.config
        T, B, _ = pre.shape
        dw = stdp_contrast(_with_bias(pre), post_n, post_f, self.rule, c.dt)
        dw = dw * (lr / (stdp_scale(c.stdp, c.dt) * T * B))
        clip_(w.add_(dw), self.bounds)
        return float(dw.abs().mean())

    @torch.no_grad()
    def train_batch(self, images: torch.Tensor, labels: torch.Tensor | None,
                    generator: torch.Generator | None = None) -> dict:
        """One aSTDP step on a batch; returns rate errors (label, reconstruction) before it."""
        c = self.config
        L = self.num_layers
        s0 = self.encode(images, generator)
        spikes, currents, noises = self.forward_pass(s0, generator)
        rates = [s.mean(0) for s in spikes]
        rates[0] = images.reshape(images.shape[0], -1).float() * c.input_rate
        derivs = [None] + [self._derivative(currents[l], noises[l]) for l in range(1, L + 1)]
        supervised = labels is not None and c.mode in ("supervised", "hybrid")
        recon = c.mode in ("unsupervised", "hybrid")
        if labels is None and c.mode == "supervised":
            raise HebbtorchError("supervised aSTDP needs labels")

        # top-down generative pass: layer l-1 driven through V from layer l's bottom-up spikes
        lab = self.label_spikes(labels, generator) if labels is not None else spikes[L]
        gen = [None] * L  # gen[l-1] = (pre spikes, currents, noise, free spikes) into layer l-1
        rec_err = [None] * L
        for l in range(L, 0, -1):
            pre = lab if l == L else spikes[l]
            cur = _drive(pre, self.V[l - 1])
            nz = self._noise(cur, generator)
            free = simulate_rates(cur, nz, c.lif())
            gen[l - 1] = (pre, cur, nz, free)
            rec_err[l - 1] = rates[l - 1] - free.mean(0)

        # targets, top-down
        targets: list[torch.Tensor | None] = [None] * (L + 1)
        if labels is not None:
            onehot = torch.nn.functional.one_hot(labels, c.sizes[-1]).float()
            targets[L] = onehot * c.rate_on + (1 - onehot) * c.rate_off
        for l in range(L - 1, 0, -1):
            err = torch.zeros_like(rates[l])
            if supervised:
                err = err + (targets[l + 1] - rates[l + 1]) @ self.W[l][:-1].T
            if recon:
                err = err + rec_err[l - 1] @ self.V[l - 1][:-1].T
            targets[l] = (rates[l] + c.gain * derivs[l] * err).clamp(0.0, 1.0)

        # STDP updates of the bottom-up synapses (label layer untouched without labels)
        dws = []
        for l in range(1, L + 1):
            if targets[l] is None:
                continue
            post_n = self._nudge(currents[l], noises[l], rates[l], targets[l], derivs[l])
            dws.append(self._stdp_update(self.W[l - 1], spikes[l - 1], post_n, spikes[l], c.lr))
        # ... and of the generative synapses: nudge toward the bottom-up rate
        for l in range(L, 0, -1):
            pre, cur, nz, free = gen[l - 1]
            d = self.curve.derivative(cur.mean(0))
            post_n = self._nudge(cur, nz, free.mean(0), rates[l - 1], d)
            self._stdp_update(self.V[l - 1], pre, post_n, free, c.gen_lr)

        out = {"recon_mse": float((rec_err[0] / max(c.input_rate, 1e-9)).pow(2).mean()),
               "mean_dw": sum(dws) / max(len(dws), 1),
               "hidden_rate": float(sum(rates[l].mean() for l in range(1, L)) / max(L - 1, 1))
               if L > 1 else 0.0}
        if labels is not None:
            out["label_mse"] = float((targets[L] - rates[L]).pow(2).mean())
            out["train_acc"] = float((spikes[L].sum(0).argmax(1) == labels).float().mean())
        return out

    @torch.no_grad()
    def evaluate(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 500,
                 generator: torch.Generator | None = None) -> dict:
        """Accuracy (argmax of label spike counts) and pixel reconstruction MSE over a split."""
        correct, sq, n = 0, 0.0, len(labels)
        for i in range(0, n, batch_size):
            x = images[i:i + batch_size].float().div(255.0) if images.dtype == torch.uint8 \
                else images[i:i + batch_size]
            y = labels[i:i + batch_size]
            correct += int((self.predict(x, generator).argmax(1) == y).sum())
            sq += float((self.reconstruct(x, generator) - x.reshape(len(x), -1)).pow(2).sum())
        return {"accuracy": correct / max(n, 1), "recon_mse": sq / max(n * self.config.sizes[0], 1)}

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Pixels -> first hidden layer (bottom-up) -> pixels (top-down through ``V[0]``)."""
        c = self.config
        spikes, _, _ = self.forward_pass(self.encode(images, generator), generator)
        cur = _drive(spikes[1], self.V[0])
        s = simulate_rates(cur, self._noise(cur, generator), c.lif())
        return (s.mean(0) / max(c.input_rate, 1e-9)).clamp(0.0, 1.0)


def load_astdp(state: dict) -> ASTDPNetwork:
    """Rebuild a network from a checkpoint dict ``{"config": ..., "model": state_dict}``."""
    try:
        cfg = dict(state["config"])
        cfg["sizes"] = tuple(cfg["sizes"])
        net = ASTDPNetwork(ASTDPConfig(**cfg), seed=int(state.get("seed", 0)))
        net.load_state_dict(state["model"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise HebbtorchError(f"not an aSTDP checkpoint ({type(e).__name__}: {e})") from e
    return net


def make_config(sizes: Sequence[int], **kw) -> ASTDPConfig:
    """``ASTDPConfig(sizes=..., **kw)``, validated."""
    return ASTDPConfig(sizes=tuple(sizes), **kw).validate()
