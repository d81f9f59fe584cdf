"""The built-in rules, one file each; importing this package registers them
with :mod:`hebbtorch.plasticity.registry`."""

from hebbtorch.plasticity.rules.calcium import (
    CalciumHebbian,
    CalciumHebbianParameters,
    calcium_hebbian_step,
)
from hebbtorch.plasticity.rules.dc import DiehlCookSTDP, DiehlCookSTDPParameters
from hebbtorch.plasticity.rules.gb import (
    GB_PARAMETER_SETS,
    GBState,
    GraupnerBrunel,
    GraupnerBrunelParameters,
    calcium_time_above,
    gb_initial_weights,
    gb_parameters,
    gb_rho_step,
    gb_synaptic_change,
    gb_transition_probabilities,
)
from hebbtorch.plasticity.rules.pair import PairSTDP, PairSTDPParameters, pair_stdp_step
from hebbtorch.plasticity.rules.triplet import (
    TRIPLET_PARAMETER_SETS,
    TripletSTDP,
    TripletSTDPParameters,
    triplet_parameters,
    triplet_stdp_step,
)

__all__ = [
    "GB_PARAMETER_SETS", "TRIPLET_PARAMETER_SETS", "CalciumHebbian", "CalciumHebbianParameters",
    "DiehlCookSTDP", "DiehlCookSTDPParameters", "GBState", "GraupnerBrunel",
    "GraupnerBrunelParameters", "PairSTDP", "PairSTDPParameters", "TripletSTDP",
    "TripletSTDPParameters", "calcium_hebbian_step", "calcium_time_above", "gb_initial_weights",
    "gb_parameters", "gb_rho_step", "gb_synaptic_change", "gb_transition_probabilities",
    "pair_stdp_step", "triplet_parameters", "triplet_stdp_step",
]
