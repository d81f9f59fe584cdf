"""Local plasticity: one core (:mod:`~hebbtorch.plasticity.core`: traces, delays, bounds,
normalisation, rule descriptions, subnormal flush) under every rule, and a registry of rule
names.

The engine: :class:`PlasticConnection` -- a batch of independent networks (dense or
sparse-masked, delays per presynaptic neuron or per synapse) or, with ``shared=True``, one
weight shared by a batch with batch-averaged changes (the Diehl & Cook network;
:func:`SharedPlasticity` is that mode's former name) -- and its weight-shared subclass
:class:`PlasticConv2d`; :class:`Learner` attaches a rule to an ordinary ``nn.Linear`` /
``nn.Conv2d`` of a user's model.
Rules (``plasticity/rules/``, by name in :mod:`~hebbtorch.plasticity.registry`): ``dc``
(:class:`DiehlCookSTDP`), ``pair`` (:class:`PairSTDP`; ``astdp``: aSTDP's pair window),
``triplet`` (:class:`TripletSTDP`, Pfister & Gerstner 2006), ``calcium`` (:class:`CalciumHebbian`,
after Girão, Risi & Chicca 2025), ``gb`` (:class:`GraupnerBrunel`, Graupner & Brunel 2012),
``calcium-bistable`` and ``kheradpisheh``. See docs/plasticity.md.
"""

from hebbtorch.plasticity import registry
from hebbtorch.plasticity.connection import EngineState, PlasticConnection, SharedPlasticity
from hebbtorch.plasticity.conv import PlasticConv2d
from hebbtorch.plasticity.core import (
    Factor,
    PlasticityRule,
    RuleSpec,
    TraceRule,
    Traces,
    TraceSpec,
    Update,
    WeightBounds,
    flush_subnormal,
    kernel_spec,
    pre_side,
)
from hebbtorch.plasticity.learner import Learner, Spikes, TimeDistributed
from hebbtorch.plasticity.rules import (
    GB_PARAMETER_SETS,
    TRIPLET_PARAMETER_SETS,
    CalciumHebbian,
    CalciumHebbianParameters,
    DiehlCookSTDP,
    DiehlCookSTDPParameters,
    GraupnerBrunel,
    GraupnerBrunelParameters,
    PairSTDP,
    PairSTDPParameters,
    TripletSTDP,
    TripletSTDPParameters,
    calcium_hebbian_step,
    calcium_time_above,
    gb_initial_weights,
    gb_parameters,
    gb_rho_step,
    gb_synaptic_change,
    gb_transition_probabilities,
    pair_stdp_step,
    triplet_parameters,
    triplet_stdp_step,
)

__all__ = [
    "GB_PARAMETER_SETS", "TRIPLET_PARAMETER_SETS", "CalciumHebbian", "CalciumHebbianParameters",
    "DiehlCookSTDP", "DiehlCookSTDPParameters", "EngineState", "Factor", "GraupnerBrunel",
    "GraupnerBrunelParameters", "Learner", "PairSTDP", "PairSTDPParameters", "PlasticConnection",
    "PlasticConv2d", "PlasticityRule", "RuleSpec", "SharedPlasticity", "Spikes",
    "TimeDistributed", "TraceRule", "TraceSpec", "Traces", "TripletSTDP", "TripletSTDPParameters",
    "Update", "WeightBounds",
    "calcium_hebbian_step", "calcium_time_above", "flush_subnormal", "gb_initial_weights",
    "gb_parameters", "gb_rho_step", "gb_synaptic_change", "gb_transition_probabilities",
    "kernel_spec", "pair_stdp_step", "pre_side", "registry", "triplet_parameters",
    "triplet_stdp_step",
]
