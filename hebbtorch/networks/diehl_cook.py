"""Diehl & Cook (2015), "Unsupervised learning of digit recognition using spike-timing-dependent
plasticity", Front. Comput. Neurosci. 9:99 -- with the parameters of the authors' Brian code.

Every number below is taken from the original code (repository ``peter-u-diehl/stdp-mnist``):
``Diehl&Cook_spiking_MNIST.py`` (abbreviated *[sim]*) and ``Diehl&Cook_MNIST_random_conn_generator
.py`` (*[gen]*), and the evaluation from ``Diehl&Cook_MNIST_evaluation.py`` (*[eval]*). Where
this module departs from that code it says so (see also docs/unsupervised.md).

Network: 784 Poisson inputs -> ``n`` conductance-based excitatory neurons (E, all-to-all plastic
weights) -> ``n`` inhibitory neurons (I, one-to-one) -> every *other* E neuron (lateral
inhibition). E neurons have an adaptive threshold ``theta``.

Layout: the state is batched over a leading dim ``B`` (independent copies of the network's
*activity*, e.g. several images at once); the learned quantities -- input weights ``[784, n]``
and ``theta`` ``[n]`` -- are shared by the batch. With ``B = 1`` this is the exact online
model; with ``B > 1`` weight changes are averaged over the batch (as BindsNET's batched
``DiehlAndCook2015`` reduces its updates) and theta takes every lane's spikes. The lanes of one
batch can be split over processes (``share``, :mod:`hebbtorch.plasticity.batched`): every
rank simulates its lanes and applies the whole batch's update, bit for bit as one process.

Units: mV, ms, Hz; conductances are dimensionless (in units of the leak conductance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from hebbtorch.checks import check_range, check_tensor_range
from hebbtorch.encoding.rate import rate_encode
from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import diehl_cook as fused
from hebbtorch.kernels import diehl_cook_eval as fused_eval
from hebbtorch.neurons.lif import check_backend
from hebbtorch.plasticity.connection import PlasticConnection
from hebbtorch.plasticity.core import PlasticityRule, WeightBounds, flush_subnormal, normalize_
from hebbtorch.plasticity.lanes import LaneShare
from hebbtorch.plasticity.rules.dc import DiehlCookSTDP
from hebbtorch.plasticity.rules.gb import GraupnerBrunel

N_INPUT = 784


class DiehlCookParameters(NamedTuple):
    """Network constants, all from the original code ([sim] unless marked).

    dt: simulation step (ms; ``defaultclock dt=0.5*ms``). v_rest_e/i, v_reset_e/i, v_thresh_e/i
    (mV): -65/-60, -65/-45, -52/-40. refrac_e/i (ms): 5/2. tau_e/i (ms): membrane time constants
    100/10 (``neuron_eqs_e/i``). tau_ge/tau_gi (ms): conductance decays 1/2. E_exc, E_inh_e,
    E_inh_i (mV): reversal potentials 0, -100 (E), -85 (I). theta_init (mV): 20 (initial theta
    in training), offset (mV): 20; the E threshold is ``v > theta - offset + v_thresh_e``.
    theta_plus (mV): 0.05 per spike; tc_theta (ms): 1e7. w_ei: 10.4 (E->I, one-to-one, [gen]
    ``weight['ei']``); w_ie: 17.0 (I->every other E, [gen] ``weight['ie']``). w_input_scale:
    initial input weights ``(U(0,1) + 0.01) * 0.3`` ([gen] ``weight['ee_input']``). norm: 78,
    the sum every E neuron's input weights is rescaled to before each image
    (``weight['ee_input'] = 78.``, ``normalize_weights``). t_present/t_rest (ms): 350/150.
    intensity: input rate = pixel / 8 * intensity Hz with intensity 2 (max 63.75 Hz); when an
    image evokes fewer than ``min_spikes`` = 5 E spikes the intensity grows by 1 (+31.875 Hz at
    pixel 255) and the image is shown again. v_init_drop (mV): neurons start at v_rest - 40."""

    dt: float = 0.5
    v_rest_e: float = -65.0
    v_rest_i: float = -60.0
    v_reset_e: float = -65.0
    v_reset_i: float = -45.0
    v_thresh_e: float = -52.0
    v_thresh_i: float = -40.0
    refrac_e: float = 5.0
    refrac_i: float = 2.0
    tau_e: float = 100.0
    tau_i: float = 10.0
    tau_ge: float = 1.0
    tau_gi: float = 2.0
    E_exc: float = 0.0
    E_inh_e: float = -100.0
    E_inh_i: float = -85.0
    theta_init: float = 20.0
    offset: float = 20.0
    theta_plus: float = 0.05
    tc_theta: float = 1e7
    w_ei: float = 10.4
    w_ie: float = 17.0
    w_input_scale: float = 0.3
    norm: float = 78.0
    t_present: float = 350.0
    t_rest: float = 150.0
    intensity: float = 2.0
    min_spikes: int = 5
    v_init_drop: float = 40.0


def validate_parameters(p: DiehlCookParameters) -> DiehlCookParameters:
    for name in ("dt", "tau_e", "tau_i", "tau_ge", "tau_gi", "tc_theta", "t_present",
                 "intensity", "norm"):
        check_range(f"{name}", getattr(p, name), 0.0, low_open=True)
    for name in ("refrac_e", "refrac_i", "t_rest", "theta_plus", "w_ei", "w_ie"):
        check_range(f"{name}", getattr(p, name), 0.0)
    for name in ("refrac_e", "refrac_i", "t_present", "t_rest"):
        v = getattr(p, name) / p.dt
        if abs(v - round(v)) > 1e-9:
            raise HebbtorchError(f"{name} ({getattr(p, name):g} ms) must be a multiple of dt")
    if int(p.min_spikes) != p.min_spikes or p.min_spikes < 0:
        raise HebbtorchError(f"min_spikes must be a non-negative integer, got {p.min_spikes}")
    return p


class DiehlCookState(NamedTuple):
    """Activity of B copies of the network. The E and I populations are stacked along the
    last dim (E neurons ``0..n-1``, their I partners ``n..2n-1``) so one set of tensor
    operations advances both: membrane ``v`` (mV), conductances ``ge``/``gi``, remaining
    refractory steps ``ref``; each ``[B, 2n]``."""

    v: torch.Tensor
    ge: torch.Tensor
    gi: torch.Tensor
    ref: torch.Tensor


class PopulationConstants(NamedTuple):
    """Per-neuron constants ``[2n]`` (E then I) and per-step factors, derived once from
    :class:`DiehlCookParameters` by :func:`population_constants`. ``mean_ge``/``mean_gi``:
    tau_g/dt (1 - exp(-dt/tau_g)), the mean of an exponentially decaying conductance over one
    step divided by its start value, so each input spike delivers its exact charge (g0 tau_g)
    however coarse dt is; ``decay_*`` = exp(-dt/tau_g); ``neg_dt_tau`` = -dt/tau_m."""

    v_rest: torch.Tensor
    v_reset: torch.Tensor
    E_inh: torch.Tensor
    neg_dt_tau: torch.Tensor
    n_ref: torch.Tensor
    decay_ge: float
    decay_gi: float
    mean_ge: float
    mean_gi: float


def population_constants(n: int, p: DiehlCookParameters,
                         device: torch.device | str | None = None) -> PopulationConstants:
    def both(e: float, i: float) -> torch.Tensor:
        return torch.cat([torch.full((n,), float(e)), torch.full((n,), float(i))]).to(device)

    def mean(tau: float) -> float:
        return -math.expm1(-p.dt / tau) * tau / p.dt  # expm1: exact for tau >> dt too

    return PopulationConstants(
        both(p.v_rest_e, p.v_rest_i), both(p.v_reset_e, p.v_reset_i),
        both(p.E_inh_e, p.E_inh_i), both(-p.dt / p.tau_e, -p.dt / p.tau_i),
        both(round(p.refrac_e / p.dt), round(p.refrac_i / p.dt)),
        math.exp(-p.dt / p.tau_ge), math.exp(-p.dt / p.tau_gi), mean(p.tau_ge), mean(p.tau_gi))


def thresholds(theta: torch.Tensor, p: DiehlCookParameters) -> torch.Tensor:
    """Spike thresholds ``[2n]`` (mV): E ``theta - offset + v_thresh_e`` ([sim] ``v_thresh_e``
    string), I ``v_thresh_i``."""
    return torch.cat([theta + (p.v_thresh_e - p.offset), torch.full_like(theta, p.v_thresh_i)])


def conductance_membrane(
    v: torch.Tensor, ge: torch.Tensor, gi: torch.Tensor, v_rest: float | torch.Tensor,
    E_exc: float, E_inh: float | torch.Tensor, neg_dt_tau: float | torch.Tensor,
) -> torch.Tensor:
    """Advance ``tau dv/dt = (v_rest - v) + ge (E_exc - v) + gi (E_inh - v)`` ([sim]
    ``neuron_eqs_e/i``) by one step, exactly for conductances constant over the step: v
    relaxes to ``v_inf = (v_rest + ge E_exc + gi E_inh) / (1 + ge + gi)`` with time constant
    ``tau / (1 + ge + gi)`` (exponential Euler). ``neg_dt_tau`` = -dt/tau. Broadcasts; mV."""
    g_tot = 1.0 + ge + gi
    num = torch.addcmul(v_rest + ge * E_exc if E_exc else v_rest, gi, E_inh)
    v_inf = num / g_tot
    return torch.lerp(v_inf, v, torch.exp(g_tot * neg_dt_tau))


def initial_state(batch: int, n: int, p: DiehlCookParameters, *,
                  device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> DiehlCookState:
    """Membranes at ``v_rest - 40 mV`` as in [sim]; no conductance, not refractory."""
    v = torch.cat([torch.full((batch, n), p.v_rest_e - p.v_init_drop),
                   torch.full((batch, n), p.v_rest_i - p.v_init_drop)], 1)
    z = torch.zeros(batch, 2 * n, device=device, dtype=dtype)
    return DiehlCookState(v.to(device, dtype), z, z.clone(), z.clone())


def network_step(
    st: DiehlCookState, drive: torch.Tensor, thresh: torch.Tensor, p: DiehlCookParameters,
    c: PopulationConstants, refractory: bool = True,
) -> tuple[DiehlCookState, torch.Tensor, bool]:
    """One dt step of B network copies. Order as in Brian: integrate the membranes with the
    conductances present at the start of the step (refractory neurons are held at reset, as
    Brian 1 does), threshold, reset, then add this step's arrivals: ``drive`` ``[B, n]`` (the
    input spikes of this step times the input weights) to the E excitatory conductances,
    ``w_ei`` per E spike to its I partner, ``w_ie`` per I spike to every *other* E neuron.
    ``thresh`` ``[2n]`` from :func:`thresholds`. ``refractory=False`` promises that no neuron
    is refractory (skips that bookkeeping; the caller knows from the spike times). Returns the
    new state, this step's spikes ``[B, 2n]`` (0/1; E then I) and whether any neuron fired."""
    n = drive.shape[1]
    v = conductance_membrane(st.v, st.ge * c.mean_ge, st.gi * c.mean_gi, c.v_rest, p.E_exc,
                             c.E_inh, c.neg_dt_tau)
    ref = st.ref
    if refractory:
        free = ref <= 0
        v = torch.where(free, v, c.v_reset)
        spiked = free & (v > thresh)
        ref = (ref - 1.0).clamp_min_(0.0)
    else:
        spiked = v > thresh
    s = spiked.to(v.dtype)
    gi = st.gi * c.decay_gi
    fired = bool(spiked.any())
    if fired:
        v = torch.where(spiked, c.v_reset, v)
        ref = torch.where(spiked, c.n_ref, ref)
        s_e, s_i = s[:, :n], s[:, n:]
        ge = torch.cat([drive, p.w_ei * s_e], 1).add_(st.ge, alpha=c.decay_ge)
        gi[:, :n].add_(s_i.sum(1, keepdim=True) - s_i, alpha=p.w_ie)  # I -> all *other* E
    else:
        ge = st.ge * c.decay_ge
        ge[:, :n].add_(drive)
    return DiehlCookState(v, flush_subnormal(ge), flush_subnormal(gi), ref), s, fired


def relax_state(st: DiehlCookState, steps: int, p: DiehlCookParameters,
                c: PopulationConstants) -> DiehlCookState:
    """Jump ``steps`` silent steps at once: conductances decay exactly; membranes relax to rest
    as if the (already negligible) conductances were zero; refractory counters run down. Used
    for the tail of the rest period (see :meth:`DiehlCookNetwork.present`)."""
    return DiehlCookState(
        torch.lerp(c.v_rest, st.v, torch.exp(c.neg_dt_tau * steps)),
        flush_subnormal(st.ge * c.decay_ge ** steps),
        flush_subnormal(st.gi * c.decay_gi ** steps),
        (st.ref - steps).clamp_min(0.0))


# ------------------------------------------------------------------------------- plasticity
def normalize_columns(w: torch.Tensor, total: float) -> torch.Tensor:
    """Rescale, in place, every column (the input weights of one E neuron) of ``w``
    ``[pre, post]`` to sum to ``total`` ([sim] ``normalize_weights``)."""
    return normalize_(w, total, 0)


def initial_weights(n: int, p: DiehlCookParameters, generator: torch.Generator | None = None,
                    n_input: int = N_INPUT) -> torch.Tensor:
    """``(U(0, 1) + 0.01) * 0.3`` ``[n_input, n]`` ([gen], ``XeAe``)."""
    return (torch.rand(n_input, n, generator=generator) + 0.01) * p.w_input_scale


def input_spikes(pixels: torch.Tensor, intensity: torch.Tensor, steps: int, dt: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Poisson (Bernoulli per step) input ``[steps, B, 784]`` for pixels ``[B, 784]`` (0..255)
    at rate ``pixel / 8 * intensity`` Hz per lane ([sim]: ``rates = x / 8. * input_intensity``);
    ``intensity`` ``[B]`` (0 silences a lane). Drawn by :func:`~hebbtorch.encoding.rate_encode`."""
    top = float(intensity.max())
    if top <= 0:
        return pixels.new_zeros(steps, *pixels.shape)
    x = pixels * (intensity / top).unsqueeze(1) / 255.0
    return rate_encode(x, steps, max_rate=255.0 / 8.0 * top, dt=dt, generator=generator)


# ------------------------------------------------------------------------------------ module
class DiehlCookNetwork(nn.Module):
    """The Diehl & Cook network with a pluggable learning rule.

    Args:
        n: excitatory (= inhibitory) population size.
        rule: a plasticity rule (default: the original :class:`DiehlCookSTDP`).
        bounds: weight bounds (default ``[0, 1]`` additive as [sim]'s ``wmin=0, wmax=1``).
        batch: network copies simulated together (1 = exact online learning).
        share: where these ``batch`` copies sit in a batch split over processes
            (:func:`~hebbtorch.plasticity.batched.lane_share`); default: they are the
            whole batch. Split, the learning steps and :meth:`dynamic_state` are collectives.
        params: :class:`DiehlCookParameters`.
        w_init: initial input weights ``[n_input, n]`` (default :func:`initial_weights`).
        n_input: input neurons, one per pixel (784 for MNIST's 28x28; any image size).
        generator: for the default initial weights.
        backend: "auto" (default) simulates the exact online mode (batch 1, float32 on the
            CPU) in the fused kernel of :mod:`hebbtorch.kernels.diehl_cook` when it learns with
            :class:`DiehlCookSTDP`, :class:`~hebbtorch.plasticity.TripletSTDP` or
            :class:`~hebbtorch.plasticity.CalciumHebbian` (additive or soft bounds),
            :class:`~hebbtorch.plasticity.GraupnerBrunel` (no noise, additive) or does not
            learn (any rule), everything else (batched mode, noisy Graupner-Brunel, other rules)
            with the PyTorch step loop; on CUDA the exact online mode with
            :class:`DiehlCookSTDP`, :class:`~hebbtorch.plasticity.TripletSTDP`,
            :class:`~hebbtorch.plasticity.CalciumHebbian` (hard clip or soft bounds in a finite
            range) or without learning runs in the Triton kernel of
            :mod:`hebbtorch.kernels.diehl_cook_triton`. "reference" always uses the loop,
            "fused" raises where no kernel can run. ``HEBBTORCH_BACKEND=reference`` makes
            "auto" mean the loop.
        rate_normalised_calcium: with a :class:`~hebbtorch.plasticity.GraupnerBrunel` rule in
            the exact online mode: every attempt learns with C_pre scaled by
            ``params.intensity`` / the attempt's intensity, so that a retry's higher input rate
            does not by itself lift the presynaptic calcium over the thresholds
            (docs/unsupervised.md, "Graupner-Brunel in the network"; not in the original).

    Buffers: ``weight`` ``[784, n]``, ``theta`` ``[n]`` (mV). :meth:`present` shows a batch of
    images and returns the E spike counts; with ``learn=True`` it normalises the weights,
    applies the rule and adapts theta; with ``learn=False`` everything learned is frozen (as
    the original's test mode)."""

    def __init__(self, n: int, rule: PlasticityRule | None = None, *,
                 bounds: WeightBounds | None = None, batch: int = 1,
                 params: DiehlCookParameters | None = None,
                 w_init: torch.Tensor | None = None,
                 generator: torch.Generator | None = None,
                 device: torch.device | str | None = None,
                 share: LaneShare | None = None, backend: str = "auto",
                 rate_normalised_calcium: bool = False, n_input: int = N_INPUT) -> None:
        super().__init__()
        self.backend = check_backend(backend)
        if int(n) != n or n <= 0:
            raise HebbtorchError(f"n (neurons) must be a positive integer, got {n}")
        if int(batch) != batch or batch <= 0:
            raise HebbtorchError(f"batch must be a positive integer, got {batch}")
        if int(n_input) != n_input or n_input <= 0:
            raise HebbtorchError(f"n_input must be a positive integer, got {n_input}")
        self.n, self.batch, self.n_input = int(n), int(batch), int(n_input)
        self.params = validate_parameters(params or DiehlCookParameters())
        p = self.params
        w = (initial_weights(self.n, p, generator, self.n_input) if w_init is None
             else w_init.clone().float())
        if tuple(w.shape) != (self.n_input, self.n):
            raise HebbtorchError(f"w_init must be [{self.n_input}, {self.n}], got "
                                 f"{tuple(w.shape)}")
        self.register_buffer("weight", w.to(device))
        self.register_buffer("theta", torch.full((self.n,), p.theta_init, device=device))
        self.rule = rule or DiehlCookSTDP()
        self.bounds = bounds or WeightBounds(0.0, 1.0, "additive")
        self.learner = PlasticConnection(self.n_input, self.n, self.rule, batch=self.batch, dt=p.dt,
                                         bounds=self.bounds, shared=True, weight=self.weight,
                                         share=share)
        self.share = self.learner.share
        self.consts = population_constants(self.n, p, device)
        self.state = initial_state(self.batch, self.n, p, device=device)
        self.theta_decay = math.exp(-(p.t_present + p.t_rest) / p.tc_theta)
        if rate_normalised_calcium and (not isinstance(self.rule, GraupnerBrunel) or self.batch != 1
                                        or self.share.split):
            raise HebbtorchError("rate_normalised_calcium (--gb-rate-normalised) scales a "
                                 "Graupner-Brunel rule's C_pre "
                                 "per attempt: it needs that rule and the exact online mode "
                                 f"(batch 1), got {type(self.rule).__name__} with batch "
                                 f"{self.batch}{' split' if self.share.split else ''}")
        self.rate_normalised_calcium = rate_normalised_calcium

    def reset_state(self) -> None:
        """Activity and traces back to their initial values (weights and theta kept)."""
        self.state = initial_state(self.batch, self.n, self.params, device=self.weight.device)
        self.learner.reset_state()

    def dynamic_state(self) -> dict:
        """Everything besides weight and theta that a resumed run needs (the whole batch's,
        gathered from every rank when split: the same as one process's)."""
        return {"state": {k: self.share.gather(v) for k, v in self.state._asdict().items()},
                "learner": self.learner.dynamic_state()}

    def load_dynamic_state(self, d: dict) -> None:
        self.state = DiehlCookState(**{k: self.share.local(v).to(self.weight.device)
                                       for k, v in d["state"].items()})
        self.learner.load_dynamic_state(d["learner"])

    def thresholds(self) -> torch.Tensor:
        """Spike thresholds ``[2n]`` (mV) with the current theta (:func:`thresholds`)."""
        return thresholds(self.theta, self.params)

    def normalize(self) -> None:
        normalize_columns(self.weight, self.params.norm)
        self.learner.resync()

    def _run(self, spikes: torch.Tensor | None, steps: int, learn: bool,
             counts: torch.Tensor | None) -> None:
        """Simulate ``steps`` steps with input ``spikes`` ``[steps, B, 784]`` (None: silent)."""
        if fused.use_fused(self, learn):
            fused.run(self, spikes, steps, learn, counts)
            return
        p, c, st, w, n, sh = self.params, self.consts, self.state, self.weight, self.n, self.share
        thresh = thresholds(self.theta, p)
        zero_drive = st.v.new_zeros(self.batch, n)
        zero_in = w.new_zeros(self.batch, self.n_input)
        n_ref = int(c.n_ref.max())
        ref_left = int(st.ref.max())  # steps until no neuron is refractory
        for t in range(steps):
            x = zero_in if spikes is None else spikes[t]
            # split: the whole batch's product (other ranks' rows zero) rounds as one process
            drive = zero_drive if spikes is None else sh.local(sh.pad(x) @ w)
            st, s, fired = network_step(st, drive, thresh, p, c, ref_left > 0)
            ref_left = n_ref if fired else max(ref_left - 1, 0)
            s_e = s[:, :n]
            post_fired = fired and bool(s_e.any())
            if post_fired and counts is not None:
                counts += s_e
            # E spikes are rare: skip this bookkeeping in silent steps (split: in none, since
            # theta takes the spikes of every rank's lanes)
            if learn and (post_fired or sh.split):
                k = sh.sum(s_e.sum(0))
                self.theta.add_(k, alpha=p.theta_plus)
                thresh[:n].add_(k, alpha=p.theta_plus)
            if learn:
                self.learner.step(x, s_e, post_fired, check=False)
        self.state = st

    def _rest(self, learn: bool) -> None:
        """The 150 ms without input. Simulated step by step until the conductances are
        below 1e-6 (no spike is possible after that: every membrane relaxes monotonically to
        rest, below threshold), then the remainder is jumped over exactly for event-driven
        rules (:func:`relax_state`, :meth:`PlasticConnection.skip`); rules that change weights
        without spikes (Graupner-Brunel) are simulated to the end."""
        p = self.params
        left = round(p.t_rest / p.dt)
        if fused.use_fused(self, learn):
            fused.run(self, None, left, learn, None, rest=True)
            return
        chunk = 10  # the fused kernel checks the conductances at the same steps
        while left > 0:
            k = min(chunk, left)
            self._run(None, k, learn, None)
            left -= k
            st = self.state
            quiet = max(float(st.ge.max()), float(st.gi.max())) < 1e-6  # both are >= 0
            if left and not self.share.any(not quiet) and (not learn or self.learner.skip(left)):
                self.state = relax_state(st, left, p, self.consts)
                left = 0

    def _begin_attempt(self, learn: bool, c_pre: float | None, intensity: float) -> None:
        """What every attempt of :meth:`present` does first, on either path: normalise the
        weights when learning and, with ``rate_normalised_calcium`` (``c_pre`` is the rule's own
        C_pre), scale C_pre by the default over this attempt's intensity."""
        if learn:
            self.normalize()
        if c_pre is not None:
            self.rule.params = self.rule.params._replace(
                C_pre=c_pre * self.params.intensity / intensity)

    @torch.inference_mode()
    def present(self, pixels: torch.Tensor, *, learn: bool, seed: int | Sequence[int] = 0,
                max_attempts: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
        """Show ``B`` images (``pixels`` ``[B, 784]`` in 0..255) as [sim] does: 350 ms of Poisson
        input then 150 ms of rest; lanes with fewer than ``min_spikes`` E spikes are shown again
        at intensity + 1 (other lanes rest meanwhile; split over processes, until no lane on any
        rank needs another attempt). ``seed`` fixes the input spikes (attempt ``k`` uses
        ``seed * 1000 + k``): one int for the batch, or one seed per lane, which draws every
        lane's input from its own generator so that it does not depend on the lanes it is
        simulated with (the same for ``B = 1``). Returns the E spike counts of the successful
        attempt ``[B, n]`` and the intensity it used ``[B]``. With ``learn`` the weights are
        normalised before every attempt, the rule learns and theta adapts (and decays once per
        image by exp(-500 ms / tc_theta))."""
        p = self.params
        if pixels.dim() != 2 or pixels.shape != (self.batch, self.n_input):
            raise HebbtorchError(
                f"pixels must be [{self.batch}, {self.n_input}], got {tuple(pixels.shape)}")
        pixels = pixels.to(self.weight.device, torch.float32)
        intensity = torch.full((self.batch,), p.intensity, device=pixels.device)
        todo = torch.ones(self.batch, dtype=torch.bool, device=pixels.device)
        result = torch.zeros(self.batch, self.n, device=pixels.device)
        used = torch.zeros(self.batch, device=pixels.device)
        steps = round(p.t_present / p.dt)
        if isinstance(seed, int):
            streams = [(slice(None), seed)]
        elif len(seed) == self.batch:
            streams = [(slice(k, k + 1), s) for k, s in enumerate(seed)]
        else:
            raise HebbtorchError(f"got {len(seed)} seeds for a batch of {self.batch}")
        c_pre = self.rule.params.C_pre if learn and self.rate_normalised_calcium else None
        frozen_fused = not learn and fused_eval.use_fused(self, isinstance(seed, int))
        # batch 1 on the CPU: the whole attempt in the kernel, which draws the input itself
        online_fused = (not frozen_fused and self.weight.device.type == "cpu"
                        and fused.use_fused(self, learn))
        if frozen_fused or online_fused:  # what rate_encode checks in the loop
            check_tensor_range("pixels", pixels, 0.0, 255.0)
        try:
            if online_fused:
                return self._present_online(pixels, learn, streams[0][1], max_attempts, c_pre)
            for attempt in range(max_attempts):
                self._begin_attempt(learn, c_pre, float(intensity[0]))
                inten = intensity * todo
                counts = torch.zeros_like(result)
                if frozen_fused:  # the same input draws and steps in one call
                    fused_eval.attempt(self, pixels, inten, seed * 1000 + attempt,
                                       thresholds(self.theta, p), counts)
                else:
                    spikes = torch.cat([
                        input_spikes(pixels[rows], inten[rows], steps, p.dt, torch.Generator(
                            device=pixels.device).manual_seed(s * 1000 + attempt))
                        for rows, s in streams], 1)
                    self._run(spikes, steps, learn, counts)
                    self._rest(learn)
                if learn:
                    self.theta.mul_(self.theta_decay)
                ok = todo & (counts.sum(1) >= p.min_spikes)
                result[ok] = counts[ok]
                used[ok] = intensity[ok]
                todo &= ~ok
                if not self.share.any(bool(todo.any())):
                    break
                intensity += 1.0
            else:
                result[todo] = counts[todo]  # give up: keep the last (too quiet) response
                used[todo] = intensity[todo] - 1.0
        finally:  # the rule keeps its own C_pre between presentations
            if c_pre is not None:
                self.rule.params = self.rule.params._replace(C_pre=c_pre)
        return result, used

    def _present_online(self, pixels: torch.Tensor, learn: bool, seed: int, max_attempts: int,
                        c_pre: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`present` of one image (batch 1) on the CPU kernel: each attempt in one call of
        :func:`hebbtorch.kernels.diehl_cook.attempt` (which draws the input), the same steps
        and numbers as the general loop there with its per-lane bookkeeping left out."""
        p = self.params
        intensity = torch.full((1,), p.intensity)  # float32, as the general loop's
        for attempt in range(max_attempts):
            self._begin_attempt(learn, c_pre, float(intensity[0]))
            counts = torch.zeros(1, self.n)
            fused.attempt(self, fused_eval.input_probability(pixels, intensity, p.dt),
                          seed * 1000 + attempt, learn, counts)
            if learn:
                self.theta.mul_(self.theta_decay)
            if float(counts.sum()) >= p.min_spikes:
                return counts, intensity
            intensity = intensity + 1.0
        return counts, intensity - 1.0  # give up: the last (too quiet) response
