"""Local plasticity: one engine (:class:`PlasticConnection`) with pluggable trace-fed rules.

Connections: dense or sparse-masked :class:`PlasticConnection` (delays per presynaptic neuron
or per synapse) and weight-shared :class:`PlasticConv2d`; :class:`Learner` attaches a rule to an
ordinary ``nn.Linear`` / ``nn.Conv2d`` of a user's model.
Rules: :class:`PairSTDP`, :class:`TripletSTDP` (Pfister & Gerstner 2006),
:class:`GraupnerBrunel` (Graupner & Brunel 2012) and :class:`CalciumHebbian` (calcium-trace
Hebbian rule after Girão, Risi & Chicca 2025). See docs/plasticity.md.
"""

from hebbtorch.plasticity.calcium_hebbian import (
    CalciumHebbian,
    CalciumHebbianParameters,
    calcium_hebbian_step,
)
from hebbtorch.plasticity.conv import PlasticConv2d
from hebbtorch.plasticity.engine import (
    EngineState,
    PlasticConnection,
    PlasticityRule,
    Traces,
    TraceSpec,
    Update,
    WeightBounds,
    pre_side,
)
from hebbtorch.plasticity.graupner_brunel import (
    GB_PARAMETER_SETS,
    GraupnerBrunel,
    GraupnerBrunelParameters,
    calcium_time_above,
    gb_initial_weights,
    gb_parameters,
    gb_rho_step,
    gb_synaptic_change,
    gb_transition_probabilities,
)
from hebbtorch.plasticity.learner import Learner, Spikes, TimeDistributed
from hebbtorch.plasticity.stdp import (
    TRIPLET_PARAMETER_SETS,
    PairSTDP,
    PairSTDPParameters,
    TripletSTDP,
    TripletSTDPParameters,
    pair_stdp_step,
    triplet_parameters,
    triplet_stdp_step,
)

__all__ = [
    "GB_PARAMETER_SETS", "TRIPLET_PARAMETER_SETS", "CalciumHebbian", "CalciumHebbianParameters",
    "EngineState", "GraupnerBrunel", "GraupnerBrunelParameters", "Learner", "PairSTDP",
    "PairSTDPParameters", "PlasticConnection", "PlasticConv2d", "PlasticityRule", "Spikes",
    "TimeDistributed", "TraceSpec", "Traces", "TripletSTDP",
    "TripletSTDPParameters", "Update", "WeightBounds", "calcium_hebbian_step",
    "calcium_time_above", "gb_initial_weights", "gb_parameters", "gb_rho_step",
    "gb_synaptic_change", "gb_transition_probabilities", "pair_stdp_step", "pre_side",
    "triplet_parameters", "triplet_stdp_step",
]
