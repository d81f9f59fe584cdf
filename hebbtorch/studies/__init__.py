"""Analyses of trained networks: gradient-by-timing attribution of BPTT weight updates and
STDP-window fitting (see docs/bptt-stdp.md)."""

from hebbtorch._lazy import lazy_exports
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

# imported on first use (the protocols and studies pull in the plasticity engine and networks)
_EXPORTS = {
    "ProtocolConfig": "bptt_stdp", "protocol_study": "bptt_stdp", "run_study": "bptt_stdp",
    "bptt_window": "bptt_stdp", "stdp_rule_windows": "bptt_stdp",
    "record_protocol": "calcium_fit",
    "class_overlap": "calcium_timing", "timing_study": "calcium_timing",
    "calibrate_inhibition": "calcium_timing",
    "front_end_weights": "calcium_frontend", "binary_features": "calcium_frontend",
    "SupervisedConfig": "calcium_supervised", "load_flat": "calcium_supervised",
    "run_one": "online_accuracy", "gradient_agreement": "online_accuracy",
    "delay_curve": "online_accuracy", "cue_task": "online_accuracy",
    "compare": "online_gap",
    "eprop_window": "online_stdp", "window_study": "online_stdp",
    "LiveTensorBytes": "online_memory", "current_deltas": "online_stdp_trained",
    "pairing_window": "protocols", "frequency_dependence": "protocols",
    "triplets_quadruplets": "protocols", "rate_dependence": "protocols",
    "learning_speed": "protocols", "poisson_pairs": "protocols", "run_rule": "protocols",
    "BI_POO_1998": "stdp_data", "SJOSTROM_2001": "stdp_data", "WANG_2005": "stdp_data",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "MODES", "TAU_MINUS_MS", "TAU_PLUS_MS", "LinearProbe", "TimingHistogram",
    "attribute_gradient", "fit_side", "fit_window", "normalise", "pearson", "post_spike_lags",
    "reference_window", "undelay",
]
__all__ += sorted(_EXPORTS)
