"""Neuron models: pure functional steps with NamedTuple parameters/state, thin modules that loop.

All sequence functions take currents ``[time, batch, ...]`` and return a NamedTuple output whose
fields are ``[time, batch, ...]`` plus the final state. Dtypes: float32/float64 currents keep
their dtype; 16-bit ones give float32 state and outputs (:mod:`hebbtorch.neurons.dtypes`), on
every backend.
"""

from hebbtorch.neurons.alif import (
    ALIF,
    ALIFOutput,
    ALIFParameters,
    ALIFState,
    alif_sequence,
    alif_step,
)
from hebbtorch.neurons.dtypes import promote, state_dtype
from hebbtorch.neurons.layout import TimeLayout
from hebbtorch.neurons.li import LI, LIParameters, li_sequence
from hebbtorch.neurons.lif import (
    LIF,
    LIFOutput,
    LIFParameters,
    LIFState,
    beta_from_tau,
    lif_sequence,
    lif_step,
)
from hebbtorch.neurons.refractory import (
    RefractoryNeuron,
    RefractoryOutput,
    RefractoryParameters,
    RefractoryState,
    refractory_sequence,
    refractory_step,
)
from hebbtorch.neurons.registry import NEURONS, NeuronModel, make_neuron, run_hidden
from hebbtorch.neurons.surrogate import SURROGATES, spike

__all__ = [
    "ALIF", "ALIFOutput", "ALIFParameters", "ALIFState", "alif_sequence", "alif_step",
    "LI", "LIParameters", "li_sequence",
    "LIF", "LIFOutput", "LIFParameters", "LIFState", "beta_from_tau", "lif_sequence", "lif_step",
    "RefractoryNeuron", "RefractoryOutput", "RefractoryParameters", "RefractoryState",
    "refractory_sequence", "refractory_step",
    "NEURONS", "NeuronModel", "make_neuron", "run_hidden",
    "SURROGATES", "spike",
    "TimeLayout", "promote", "state_dtype",
]
