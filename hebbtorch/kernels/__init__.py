"""Fused neuron kernels: the whole time axis in one call, forward and surrogate backward.

``LIF`` / ``ALIF`` / ``RefractoryNeuron`` and their ``*_sequence`` functions ask
:mod:`.dispatch` for them (``backend="auto"``); ``backend="reference"`` (or
``HEBBTORCH_BACKEND=reference`` in the environment) forces the plain PyTorch loop. CPU: C++
built and registered as PyTorch operators (:mod:`.cpu`, one ``*_cpu.cpp`` per neuron); CUDA:
Triton for LIF (:mod:`.lif_triton`, also with bf16/fp16 currents), ALIF (:mod:`.alif_triton`)
and the refractory neuron (:mod:`.refractory_triton`). :mod:`.chunked` adds checkpointed BPTT
over chunks of time for long sequences. Measurements: docs/benchmarks.md.
"""

from hebbtorch.kernels.chunked import chunked_bptt
from hebbtorch.kernels.dispatch import BACKENDS

# modules that register fused neurons with :mod:`.dispatch`, imported on its first lookup
PROVIDERS = ("hebbtorch.kernels.lif", "hebbtorch.kernels.alif", "hebbtorch.kernels.refractory")


def available() -> bool:
    """True if the CPU kernels build (or are cached) and load on this machine."""
    from hebbtorch.kernels import cpu  # imports the neurons' types: not at package import

    return cpu.available()


__all__ = ["BACKENDS", "PROVIDERS", "available", "chunked_bptt"]
