"""SpikeProp: error backpropagation on first-spike times (Bohte, Kok & La Poutré 2002,
"Error-backpropagation in temporally encoded networks of spiking neurons", Neurocomputing 48).

Spike response model (SRM) neurons, each connection made of ``m`` delayed synaptic terminals::

    eps(s) = (s / tau) * exp(1 - s / tau)  for s > 0, else 0          (eq. 2; peak 1 at s = tau)
    x_j(t) = sum_i sum_k w_ij^k eps(t - t_i - d^k)                     (eqs. 3-4)
    t_j    = first t with x_j(t) >= theta                              (one spike per neuron)

Times are in ms. The first crossing is found on a grid of step ``dt`` and then refined by
bisection on the closed-form ``x_j(t)`` to ~1e-9 ms, so spike times are smooth functions of the
weights and the SpikeProp gradient is their exact derivative. With ``E = 1/2 sum_j (t_j -
t_j^d)^2`` (eq. 5) and ``xdot_j = dx_j/dt`` at ``t_j``:

    output layer (eqs. 10-12):  delta_j = (t_j^d - t_j) / xdot_j;    dE/dw_ij^k = y_i^k(t_j) delta_j
    hidden layer (eqs. 13-16): delta_i = sum_j delta_j (sum_k w_ij^k eps'(t_j - t_i - d^k)) / xdot_i
                                dE/dw_hi^k = y_h^k(t_i) delta_i

(signs as in the paper; the update is ``w -= lr * dE/dw``). As in the paper a neuron is either
excitatory or inhibitory: weights are stored as magnitudes >= 0 and multiplied by the sign of
the presynaptic neuron (XOR: one inhibitory hidden neuron). Two practical guards the paper does
not spell out: ``xdot`` is clamped to ``>= min_slope`` (a crossing at a near-flat potential would
give huge steps), and a neuron that stays silent for a pattern gets its input weights nudged up
by ``silent_boost`` (otherwise it has no spike time and no gradient).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.run import LoopState, Schedule, Trainer, run_loop

INF = math.inf


def srm_kernel(s: torch.Tensor, tau: float) -> torch.Tensor:
    """``eps(s) = s/tau exp(1 - s/tau)`` for ``s > 0``, else 0 (Bohte et al. eq. 2)."""
    sp = s.clamp(min=0.0)
    return torch.where(s > 0, sp / tau * torch.exp(1.0 - sp / tau), torch.zeros_like(s))


def srm_kernel_grad(s: torch.Tensor, tau: float) -> torch.Tensor:
    """``d eps / ds = exp(1 - s/tau) (1 - s/tau) / tau`` for ``s > 0``, else 0."""
    sp = s.clamp(min=0.0)
    return torch.where(
        s > 0, torch.exp(1.0 - sp / tau) * (1.0 - sp / tau) / tau, torch.zeros_like(s)
    )


@dataclass
class SpikePropConfig:
    """sizes: neurons per layer, input first; tau (ms): SRM time constant (7 in the paper);
    delays: terminal delays (ms; 1..16 in the paper); theta: threshold; t_max, dt (ms): the
    simulated window and its grid; inhibitory: per hidden layer, how many of its neurons
    (the last ones) are inhibitory; w_init: initial weight magnitudes ~ U(w_init)."""

    sizes: tuple[int, ...] = (3, 5, 1)
    tau: float = 7.0
    delays: tuple[float, ...] = tuple(float(d) for d in range(1, 17))
    theta: float = 1.0
    t_max: float = 40.0
    dt: float = 0.25
    inhibitory: tuple[int, ...] = (1,)
    w_init: tuple[float, float] = (0.0, 0.1)
    sign_constrained: bool = True  # False: free-sign weights (no clamp, no inhibitory set)
    min_slope: float = 0.1
    silent_boost: float = 0.01
    extra: dict = field(default_factory=dict)

    def validate(self) -> SpikePropConfig:
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise HebbtorchError(f"sizes must be >= 2 positive layer sizes, got {self.sizes}")
        for name in ("tau", "theta", "t_max", "dt", "min_slope"):
            if not getattr(self, name) > 0:
                raise HebbtorchError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.delays or min(self.delays) < 0:
            raise HebbtorchError(
                f"delays must be a non-empty list of values >= 0, got {self.delays}"
            )
        if len(self.inhibitory) not in (0, len(self.sizes) - 2):
            raise HebbtorchError("inhibitory needs one count per hidden layer")
        for n, size in zip(self.inhibitory, self.sizes[1:-1], strict=False):
            if not 0 <= n < size:
                raise HebbtorchError(f"inhibitory count {n} must be in [0, {size})")
        return self


class SpikePropNet:
    """A feed-forward SRM network of first-spike-time neurons trained by SpikeProp.

    ``forward(t_in)`` with input spike times ``[batch, n_in]`` (ms; ``inf`` = no spike) returns
    every layer's first-spike times (``inf`` where a neuron stays silent before ``t_max``).
    Weights: ``self.weights[l]`` ``[n_post, n_pre, m]`` magnitudes >= 0; ``self.signs[l]``
    ``[n_pre]`` (+1 excitatory, -1 inhibitory). Float64 throughout.
    """

    def __init__(self, cfg: SpikePropConfig, generator: torch.Generator | None = None) -> None:
        self.cfg = cfg.validate()
        self.delays = torch.tensor(cfg.delays, dtype=torch.float64)
        lo, hi = cfg.w_init
        self.weights: list[torch.Tensor] = []
        self.signs: list[torch.Tensor] = []
        for layer, (a, b) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True)):
            w = lo + (hi - lo) * torch.rand(
                b, a, len(cfg.delays), generator=generator, dtype=torch.float64
            )
            self.weights.append(w)
            sign = torch.ones(a, dtype=torch.float64)
            if cfg.sign_constrained and layer > 0 and cfg.inhibitory and cfg.inhibitory[layer - 1]:
                sign[a - cfg.inhibitory[layer - 1] :] = -1.0
            self.signs.append(sign)

    # ---- forward -------------------------------------------------------------------------
    newton_steps = 6  # from a secant start inside one grid step: converged to ~1e-12 ms

    def _potential(
        self, t: torch.Tensor, t_pre: torch.Tensor, w: torch.Tensor, slope: bool = False
    ):
        """x_j at times ``t`` ``[B, J]`` for pre times ``[B, I]`` -> ``[B, J]`` (and dx/dt)."""
        s = t[:, :, None, None] - t_pre[:, None, :, None] - self.delays  # [B, J, I, K]
        s = torch.nan_to_num(s, nan=-1.0, posinf=-1.0, neginf=-1.0)
        x = (srm_kernel(s, self.cfg.tau) * w).sum((2, 3))
        if slope:
            return x, (srm_kernel_grad(s, self.cfg.tau) * w).sum((2, 3))
        return x

    def layer_times(self, t_pre: torch.Tensor, layer: int) -> torch.Tensor:
        """First-spike times ``[B, J]`` of layer ``layer + 1`` given its inputs' times."""
        c = self.cfg
        w = self.weights[layer] * self.signs[layer][:, None]  # signed [J, I, K]
        grid = torch.arange(0.0, c.t_max + c.dt / 2, c.dt, dtype=torch.float64)
        out = []
        for chunk in t_pre.split(16):  # bounded memory: [16, I, K, T]
            s = grid - (chunk[:, :, None, None] + self.delays[:, None])  # [B, I, K, T]
            s = torch.nan_to_num(s, nan=-1.0, posinf=-1.0, neginf=-1.0)
            x = torch.einsum("bikt,jik->bjt", srm_kernel(s, c.tau), w)
            above = x >= c.theta
            fired = above.any(-1)
            n = above.to(torch.int8).argmax(-1)  # first grid index at/above threshold
            hi_t = grid[n]
            lo_t = (hi_t - c.dt).clamp(min=0.0)
            x_hi = x.gather(-1, n.unsqueeze(-1)).squeeze(-1)
            x_lo = x.gather(-1, (n - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
            # secant start inside the bracket, then safeguarded Newton on the closed form
            frac = ((c.theta - x_lo) / (x_hi - x_lo).clamp(min=1e-12)).clamp(0.0, 1.0)
            t = torch.where(n > 0, lo_t + frac * (hi_t - lo_t), hi_t)
            for _ in range(self.newton_steps):
                v, vdot = self._potential(t, chunk, w, slope=True)
                step = (v - c.theta) / vdot.clamp(min=1e-9)
                t_new = t - step
                ok = (t_new >= lo_t) & (t_new <= hi_t) & (vdot > 1e-9)
                t = torch.where(ok, t_new, 0.5 * (lo_t + hi_t))  # fall back to the midpoint
                up = self._potential(t, chunk, w) >= c.theta
                hi_t = torch.where(up & ~ok, t, hi_t)
                lo_t = torch.where(~up & ~ok, t, lo_t)
            hi_t = torch.where(n > 0, t, hi_t)
            out.append(torch.where(fired, hi_t, torch.full_like(hi_t, INF)))
        return torch.cat(out)

    def forward(self, t_in: torch.Tensor) -> list[torch.Tensor]:
        """All layers' spike times, input first: ``[t_in, t_hidden..., t_out]``."""
        times = [torch.as_tensor(t_in, dtype=torch.float64)]
        for layer in range(len(self.weights)):
            times.append(self.layer_times(times[-1], layer))
        return times

    __call__ = forward

    # ---- SpikeProp gradient --------------------------------------------------------------
    def gradients(
        self, times: list[torch.Tensor], t_target: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """SpikeProp gradients of ``E = 1/2 sum (t_out - t_target)^2`` summed over the batch,
        with respect to the weight magnitudes; and the per-neuron silent masks ``[B, J]`` per
        layer (silent neurons contribute no gradient). Returns (grads, silent per layer)."""
        c = self.cfg
        t_out = times[-1]
        fired = torch.isfinite(t_out)
        g_post = torch.where(fired, t_out - t_target, torch.zeros_like(t_out))  # dE/dt_j
        grads: list[torch.Tensor] = [torch.zeros(0)] * len(self.weights)
        for layer in reversed(range(len(self.weights))):
            t_pre, t_post = times[layer], times[layer + 1]
            sign = self.signs[layer]
            w = self.weights[layer] * sign[:, None]  # [J, I, K]
            ok = torch.isfinite(t_post)
            tp = torch.where(ok, t_post, torch.zeros_like(t_post))
            s = tp[:, :, None, None] - t_pre[:, None, :, None] - self.delays  # [B, J, I, K]
            s = torch.nan_to_num(s, nan=-1.0, posinf=-1.0, neginf=-1.0)
            y = srm_kernel(s, c.tau)
            dy = srm_kernel_grad(s, c.tau)
            xdot = (dy * w).sum((2, 3)).clamp(min=c.min_slope)  # dx_j/dt at t_j  [B, J]
            g_post = torch.where(ok, g_post, torch.zeros_like(g_post))
            # dt_j/dw_ij^k = -y / xdot (signed weight); magnitudes: times the pre sign
            coef = g_post / xdot  # [B, J]
            grads[layer] = -(coef[:, :, None, None] * y).sum(0) * sign[:, None]
            # dt_j/dt_i = sum_k w_ij^k eps'(t_j - t_i - d^k) / xdot_j
            g_post = (coef[:, :, None, None] * dy * w).sum((1, 3))  # [B, I]
        return grads, [~torch.isfinite(t) for t in times[1:]]

    def loss(self, t_out: torch.Tensor, t_target: torch.Tensor) -> torch.Tensor:
        """``1/2 sum (t_out - t_target)^2`` per pattern ``[B]``; silent outputs count at t_max."""
        t = torch.where(torch.isfinite(t_out), t_out, torch.full_like(t_out, self.cfg.t_max))
        return 0.5 * ((t - t_target) ** 2).sum(-1)

    def step(self, t_in: torch.Tensor, t_target: torch.Tensor, lr: float) -> torch.Tensor:
        """One gradient step on a batch (sum of per-pattern gradients); returns per-pattern E."""
        times = self.forward(t_in)
        grads, silent = self.gradients(times, t_target)
        for layer, (w, g) in enumerate(zip(self.weights, grads, strict=True)):
            w -= lr * g
            quiet = silent[layer].any(0)  # neurons silent for some pattern: nudge inputs up
            if bool(quiet.any()) and self.cfg.silent_boost:
                w[quiet] += self.cfg.silent_boost
            if self.cfg.sign_constrained:
                w.clamp_(min=0.0)
        return self.loss(times[-1], t_target)

    def state_dict(self) -> dict:
        return {
            "weights": [w.clone() for w in self.weights],
            "signs": [s.clone() for s in self.signs],
        }


# ---- encodings and data sets (Bohte et al. 2002, sections 3.1 and 4) -------------------------

XOR_INPUT_TIMES = {0: 6.0, 1: 0.0}  # a 1 fires early (0 ms), a 0 late (6 ms); reference at 0 ms
XOR_TARGETS = {0: 16.0, 1: 10.0}  # output: true -> 10 ms, false -> 16 ms (Table 1)


def xor_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs ``[4, 3]`` (two bits + the reference neuron, ms), targets ``[4, 1]`` (ms), labels."""
    bits = [(0, 0), (0, 1), (1, 0), (1, 1)]
    t_in = torch.tensor(
        [[XOR_INPUT_TIMES[a], XOR_INPUT_TIMES[b], 0.0] for a, b in bits], dtype=torch.float64
    )
    labels = torch.tensor([a ^ b for a, b in bits])
    t_target = torch.tensor([[XOR_TARGETS[int(v)]] for v in labels], dtype=torch.float64)
    return t_in, t_target, labels


def population_times(
    x: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    m: int = 12,
    gamma: float = 1.5,
    t_span: float = 10.0,
    cutoff: float = 0.1,
) -> torch.Tensor:
    """Bohte's Gaussian receptive-field encoding: ``m`` fields per feature with centres
    ``I_min + (2i - 3)/2 * s`` (``s = (I_max - I_min)/(m - 2)``, i = 1..m) and width ``s/gamma``;
    activity ``a`` in [0, 1] fires at ``(1 - a) * t_span`` ms, and ``a < cutoff`` does not fire.
    x ``[B, F]`` -> times ``[B, F * m]`` (inf = silent)."""
    from hebbtorch.encoding.population import gaussian_receptive_fields

    cols = []
    for f in range(x.shape[1]):
        s = float(high[f] - low[f]) / (m - 2)
        a = gaussian_receptive_fields(
            x[:, f], m, low=float(low[f]) - s / 2, high=float(high[f]) + s / 2, width=s / gamma
        )
        t = (1.0 - a) * t_span
        cols.append(torch.where(a >= cutoff, t, torch.full_like(t, INF)))
    return torch.cat(cols, 1).to(torch.float64)


def iris_data(seed: int = 0, m: int = 12, n_reference: int = 2):
    """Iris encoded as in the paper: 4 features x ``m`` = 48 receptive-field neurons plus
    ``n_reference`` reference neurons firing at 0 ms (50 inputs). Stratified half/half
    train/test split (seeded). Targets: the true class's output fires at 12 ms, the others at
    16 ms. Returns ``(train, test)``, each ``(t_in, t_target, labels)``."""
    from hebbtorch.data.iris import load_iris

    x, y = load_iris()
    g = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for c in range(3):
        idx = (y == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        train_idx.append(idx[: len(idx) // 2])
        test_idx.append(idx[len(idx) // 2 :])
    tr, te = torch.cat(train_idx), torch.cat(test_idx)
    low, high = x[tr].min(0).values, x[tr].max(0).values  # ranges from the training half

    def encode(ix):
        t = population_times(x[ix], low, high, m)
        ref = torch.zeros(len(ix), n_reference, dtype=torch.float64)
        target = torch.full((len(ix), 3), 16.0, dtype=torch.float64)
        target[torch.arange(len(ix)), y[ix]] = 12.0
        return torch.cat([t, ref], 1), target, y[ix]

    return encode(tr), encode(te)


def classify_earliest(t_out: torch.Tensor) -> torch.Tensor:
    """The class whose output neuron fires first (ties: lowest index; silent = never)."""
    return t_out.argmin(-1)


def classify_xor(t_out: torch.Tensor) -> torch.Tensor:
    """True if the output fires closer to 10 ms than to 16 ms."""
    return (t_out[:, 0] < 13.0).long()


@dataclass
class FitResult:
    epochs: int  # training epochs run
    converged_at: int | None  # first epoch meeting the criterion (None: never)
    history: list[dict]  # per epoch: loss (mean E per pattern), train/test accuracy


class SpikePropTrainer(Trainer):
    """SpikeProp for :func:`~hebbtorch.learning.run.run_loop`: a step is one epoch (the
    patterns shuffled, ``batch_size`` per update), evaluated after it; the run ends early once
    converged (with ``stop_at_convergence``). ``extra``: more entries of the checkpoint."""

    desc = "SpikeProp"

    def __init__(self, net: SpikePropNet, train, *, lr: float, classify: Callable, test=None,
                 batch_size: int = 1, target_loss: float | None = None,
                 stop_at_convergence: bool = True, generator: torch.Generator | None = None,
                 extra: dict | None = None) -> None:
        self.net, self.train, self.test, self.lr = net, train, test, lr
        self.classify, self.batch_size, self.target_loss = classify, batch_size, target_loss
        self.stop_at_convergence, self.generator = stop_at_convergence, generator
        self.extra, self.converged = extra or {}, None

    def train_step(self, step: int) -> None:
        t_in, t_target, labels = self.train
        order = torch.randperm(len(labels), generator=self.generator)
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            self.net.step(t_in[idx], t_target[idx], self.lr)

    def end_epoch(self, epoch: int, loop: LoopState) -> dict:
        net, (t_in, t_target, labels) = self.net, self.train
        t_out = net(t_in)[-1]
        row = {"epoch": epoch, "loss": float(net.loss(t_out, t_target).mean()),
               "train_accuracy": float((self.classify(t_out) == labels).double().mean())}
        if self.test is not None:
            te_out = net(self.test[0])[-1]
            row["test_loss"] = float(net.loss(te_out, self.test[1]).mean())
            row["test_accuracy"] = float((self.classify(te_out) == self.test[2]).double().mean())
        ok = row["train_accuracy"] == 1.0 and (self.target_loss is None
                                               or row["loss"] < self.target_loss)
        if ok and self.converged is None:
            self.converged = epoch
        return row

    def finished(self, loop: LoopState) -> bool:
        return self.converged is not None and self.stop_at_convergence

    def state_dict(self, loop: LoopState) -> dict:
        return {**self.extra, "weights": [w.clone() for w in self.net.weights],
                "history": loop.history, "converged": self.converged, "wall": loop.elapsed,
                "rng": self.generator.get_state() if self.generator is not None
                else torch.zeros(0, dtype=torch.uint8)}

    def load_state_dict(self, state: dict) -> LoopState:
        for w, saved in zip(self.net.weights, state["weights"], strict=True):
            w.copy_(saved)
        if self.generator is not None:
            self.generator.set_state(state["rng"])
        self.converged = state["converged"]
        return LoopState(len(state["history"]), list(state["history"]), [], state["wall"])

    def result(self, loop: LoopState) -> FitResult:
        return FitResult(len(loop.history), self.converged, loop.history)


def fit(net: SpikePropNet, train, *, lr: float, epochs: int, classify, test=None,
        batch_size: int = 1, target_loss: float | None = None, stop_at_convergence: bool = True,
        generator: torch.Generator | None = None) -> FitResult:
    """Train by SpikeProp in memory (no run folder); ``batch_size=1`` is the paper's on-line
    (per-pattern) learning, with the patterns shuffled each epoch. Converged: every training
    pattern classified right and, if ``target_loss`` is given, mean E per pattern below it
    (ms^2). ``hebbtorch spikeprop`` runs the same :class:`SpikePropTrainer` in a run folder."""
    trainer = SpikePropTrainer(net, train, lr=lr, classify=classify, test=test,
                               batch_size=batch_size, target_loss=target_loss,
                               stop_at_convergence=stop_at_convergence, generator=generator)
    end = run_loop(None, trainer, Schedule(epochs, 1, unit="epoch", epoch_label=None),
                   quiet=True)
    return trainer.result(end.loop)
