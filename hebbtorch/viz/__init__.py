"""Pictures: spike rasters, membrane traces, heat maps, STDP curves, receptive fields, curves.

Every function is importable from here; its module (and matplotlib) is imported on first use."""

from hebbtorch._lazy import lazy_exports

_EXPORTS = {
    "layer_heatmap": "activity",
    "neuron_trace": "activity",
    "value_before_reset": "activity",
    "animate_spikes": "animation",
    "animate_events": "animation",
    "plot_calcium_protocol": "calcium",
    "plot_calcium_fit": "calcium",
    "plot_rate_curves": "calcium",
    "plot_learning_curves": "calcium",
    "kernel_pictures": "conv_stdp",
    "plot_kernels": "conv_stdp",
    "polarity_image": "events",
    "event_frames": "events",
    "receptive_field_mosaic": "fields",
    "plot_window": "plasticity",
    "plot_frequency": "plasticity",
    "plot_triplets": "plasticity",
    "plot_rate": "plasticity",
    "plot_speed": "plasticity",
    "plot_protocol": "plasticity",
    "spike_raster": "raster",
    "firing_rate_map": "rates",
    "rate_over_time": "rates",
    "figure": "style",
    "colorbar": "style",
    "legend_outside": "style",
    "membrane_traces": "traces",
    "protocol_grid_figure": "bptt_stdp", "ltd_figure": "bptt_stdp",
    "seed_timing_figure": "bptt_stdp", "epochs_figure": "bptt_stdp",
    "encoding_overview": "encoding", "image_figure": "encoding",
    "eprop_window_figure": "online", "trained_window_figure": "online",
    "delay_figure": "online",
    "learning_curves": "training", "spikeprop_curves": "training",
    "astdp_curves": "training", "image_grid": "training",
    "plot_receptive_fields": "unsupervised", "plot_assignments": "unsupervised",
    "plot_confusion": "unsupervised", "plot_curve": "unsupervised",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
