"""Pictures: spike rasters, membrane traces, heat maps, STDP curves, receptive fields, curves."""
