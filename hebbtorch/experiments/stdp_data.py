"""Published plasticity measurements used as overlays, each with where its numbers come from.

Relative weight changes are fractions (0.14 = +14 %). Only numbers we could check against a
copy are stored; data sets we could not obtain are listed in :data:`UNAVAILABLE` instead of
being guessed.
"""

from __future__ import annotations

from typing import Any

# Sjöström, Turrigiano & Nelson (2001) Neuron 32:1149, frequency dependence of STDP in layer-5
# visual cortex (Fig. 1D / 7): pairings with Δt = +10 ms and -10 ms at 0.1-50 Hz. These are the
# points Pfister & Gerstner (2006, Fig. 6/7) fit their visual-cortex triplet sets to and
# Graupner & Brunel (2012, Fig. 3) fit their "cortical slices" set to. Values (mean, SEM)
# as tabulated in VH-Lab/vhlab-toolbox-matlab, +vlt/+neuro/+stdp/sjostrom_freq_stdp.m, which
# agree with the figures of both modelling papers.
SJOSTROM_2001: dict[str, Any] = {
    "citation": "Sjöström PJ, Turrigiano GG, Nelson SB (2001) Neuron 32:1149-1164, Fig. 1D",
    "source": "tabulated in VH-Lab/vhlab-toolbox-matlab +vlt/+neuro/+stdp/sjostrom_freq_stdp.m",
    "protocol": "5 pairings at f repeated 15x every 10 s (75 pairings); Pfister & Gerstner "
                "model it as 60 pairings at f",
    "freq_hz": [0.1, 10.0, 20.0, 40.0, 50.0],
    "dw_plus10": [-0.04, 0.14, 0.29, 0.53, 0.56],
    "sem_plus10": [0.05, 0.10, 0.14, 0.11, 0.26],
    "dw_minus10": [-0.29, -0.41, -0.34, 0.56, 0.75],
    "sem_minus10": [0.08, 0.11, 0.10, 0.32, 0.19],
}

# Data sets named in the plasticity issue that we could not check against any copy; the
# protocols run without an overlay for them (see docs/plasticity.md, "Not done").
UNAVAILABLE: dict[str, str] = {
    "bi_poo_1998_window": "Bi & Poo (1998) J Neurosci 18:10464, Fig. 7 scatter: raw points not "
                          "available offline (only the fitted time constants 16.8/33.7 ms, "
                          "used as pair-STDP defaults).",
    "wang_2005_triplets": "Wang, Gerkin, Nauen & Bi (2005) Nat Neurosci 8:187, triplet and "
                          "quadruplet results (as fitted by Pfister & Gerstner 2006, Figs. 4-5): "
                          "values not available offline.",
}


def dataset(name: str) -> dict[str, Any] | None:
    """The stored data set ``name`` or None when it is unavailable."""
    return {"sjostrom_2001": SJOSTROM_2001}.get(name)
