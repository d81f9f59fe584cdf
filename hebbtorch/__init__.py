"""hebbtorch: spiking neural networks on PyTorch, trained by BPTT and by local plasticity.

Tensors are laid out ``[time, batch, ...]`` everywhere.
"""

from hebbtorch.errors import HebbtorchError

__version__ = "0.1.0"
__all__ = ["HebbtorchError", "__version__"]
