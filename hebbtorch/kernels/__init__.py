"""Fused neuron kernels: the whole time axis in one call, forward and surrogate backward.

``LIF`` / ``ALIF`` / ``RefractoryNeuron`` and their ``*_sequence`` functions pick them
automatically (``backend="auto"``); ``backend="reference"`` (or ``HEBBTORCH_BACKEND=reference``
in the environment) forces the plain PyTorch loop. CPU: C++ (``neurons_cpu.cpp``) for all three;
CUDA: Triton for LIF (:mod:`.lif_triton`, also with bf16/fp16 currents), ALIF
(:mod:`.alif_triton`) and the refractory neuron (:mod:`.refractory_triton`). :mod:`.chunked`
adds checkpointed BPTT over chunks of time for long sequences.
Measurements: docs/benchmarks.md.
"""

from hebbtorch.kernels.chunked import chunked_bptt
from hebbtorch.kernels.cpu import available
from hebbtorch.neurons.lif import BACKENDS

__all__ = ["BACKENDS", "available", "chunked_bptt"]
