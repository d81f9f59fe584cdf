"""Learning frameworks built from local plasticity, no global loss.

See :mod:`hebbtorch.learning.astdp`."""

from hebbtorch.learning.astdp import (
    ASTDPConfig,
    ASTDPNetwork,
    RateCurve,
    finite_difference,
    stdp_contrast,
)

__all__ = ["ASTDPConfig", "ASTDPNetwork", "RateCurve", "finite_difference", "stdp_contrast"]
