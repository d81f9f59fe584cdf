"""Analyses of trained networks: gradient-by-timing attribution of BPTT weight updates and
STDP-window fitting (see docs/bptt-stdp.md)."""

from hebbtorch.studies.gradient_timing import (
    MODES,
    LinearProbe,
    TimingHistogram,
    attribute_gradient,
    post_spike_lags,
    undelay,
)
from hebbtorch.studies.stdp_fit import (
    TAU_MINUS_MS,
    TAU_PLUS_MS,
    fit_side,
    fit_window,
    normalise,
    pearson,
    reference_window,
)

__all__ = [
    "MODES", "TAU_MINUS_MS", "TAU_PLUS_MS", "LinearProbe", "TimingHistogram",
    "attribute_gradient", "fit_side", "fit_window", "normalise", "pearson", "post_spike_lags",
    "reference_window", "undelay",
]
