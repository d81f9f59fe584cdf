"""Published plasticity measurements used as overlays, each with where its numbers come from.

Relative weight changes are fractions (0.14 = +14 %). We hold no copy of the original papers'
tables or figures: every set below is a transcription made by others, found in public code,
and says which one and how its numbers were obtained (tabulated vs read off a figure).
Where two independent copies exist they were compared and agree digit for digit.
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

# Bi & Poo (1998) J Neurosci 18:10464, Fig. 7: one point per recorded synapse (hippocampal
# cultures, 60 pairings at 1 Hz), relative change of the EPSC amplitude vs Δt = t_post - t_pre.
# 42 points *digitised from the figure* ("estimated via analyzing plots") by Bekolay, Kolbeck &
# Eliasmith for CogSci 2013 (tbekolay/cogsci2013, scripts/analysis/bcm.py, arrays stdp_x in s
# and stdp_y); a second public copy of the same 42 pairs (a nengo analysis script, repository
# not resolved by our code index) agrees exactly. Read-off error is a fraction of a millisecond
# and about 0.01 in Δw; the figure itself has more points than the 42 digitised ones.
BI_POO_1998: dict[str, Any] = {
    "citation": "Bi GQ, Poo MM (1998) J Neurosci 18:10464-10472, Fig. 7",
    "source": "approximate digitisation of Fig. 7 by Bekolay et al., tbekolay/cogsci2013 "
              "scripts/analysis/bcm.py (42 of the figure's points)",
    "protocol": "60 pairings at 1 Hz, hippocampal cultures, one point per synapse",
    "dt_ms": [
        -99.8, -77.4, -72.8, -65.4, -61.6, -61.4, -42.4, -23.4, -23.2, -18.4, -17.2, -14.0,
        -12.7, -8.2, -5.1, -4.9, -4.5, -4.4, -3.8, -2.7, -2.7, -2.6, 1.8, 4.2, 5.2, 6.3, 7.0,
        7.3, 7.4, 7.8, 7.9, 8.0, 8.1, 16.7, 16.8, 25.2, 26.0, 35.0, 55.9, 76.5, 85.1, 94.5,
    ],
    "dw": [
        -0.0173, -0.1468, 0.0301, 0.0068, -0.0804, -0.0073, -0.1377, -0.0928, -0.1510,
        -0.2365, -0.1377, -0.0463, -0.3204, -0.2564, -0.3577, -0.2190, -0.1327, -0.4366,
        0.7625, 0.0027, -0.1593, 0.2319, 0.9070, 0.3008, 1.0324, 0.2136, 0.3348, 0.9626,
        0.8480, 0.4926, 0.0193, 0.7334, 0.1945, 0.3564, 0.4386, 0.1463, 0.0259, 0.1804,
        -0.1111, 0.0980, -0.0447, 0.0284,
    ],
}

# Wang, Gerkin, Nauen & Bi (2005) Nat Neurosci 8:187 (hippocampal cultures, 60 repetitions at
# 1 Hz) as used by Pfister & Gerstner (2006) to fit their hippocampal triplet sets: pairs at
# ±10 ms, pre-post-pre and post-pre-post triplets and three quadruplets; mean and SEM. The 13
# values are those of the hippocampal data set of Pfister & Gerstner's fit, tabulated in
# MostafaRahimiAzghadi/MemristiveSynapse, Hippo_pairbased_optimized6param_Fig.5/out_hippo.m
# ("Hippocampal experiments of Wang et al. 2005 ... from Pfister and Gerstner 2006"), and
# identical in two independent Python copies (a triplet-hardware NMSE script and a nengo
# analysis script). The quadruplet intervals T = -88.5, 83.7, 20 ms are the values those copies
# simulate (the first two evidently read off the figure; the third copy has -89/84/20).
# Triplet conventions (Pfister & Gerstner): pre-post-pre (Δt1, Δt2) = (t_post - t_pre1,
# t_post - t_pre2); post-pre-post (Δt1, Δt2) = (t_post1 - t_pre, t_post2 - t_pre);
# quadruplet: a post-pre pair (Δt = -5 ms) and a pre-post pair (+5 ms) whose midpoints are T
# apart, post-pre first for T > 0.
WANG_2005: dict[str, Any] = {
    "citation": "Wang HX, Gerkin RC, Nauen DW, Bi GQ (2005) Nat Neurosci 8:187-193, "
                "as fitted by Pfister JP, Gerstner W (2006) J Neurosci 26:9673 (Figs. 4-5)",
    "source": "tabulated in MostafaRahimiAzghadi/MemristiveSynapse "
              "Hippo_pairbased_optimized6param_Fig.5/out_hippo.m (expval, sem); two "
              "independent Python copies agree",
    "protocol": "60 repetitions at 1 Hz, hippocampal cultures",
    "pair": {"dt_ms": [10.0, -10.0], "dw": [0.25, -0.17], "sem": [0.05, 0.05]},
    "pre_post_pre": {"dts": [(5.0, -5.0), (10.0, -10.0), (15.0, -5.0), (5.0, -15.0)],
                     "dw": [-0.01, 0.03, 0.01, 0.24], "sem": [0.04, 0.04, 0.03, 0.06]},
    "post_pre_post": {"dts": [(-5.0, 5.0), (-10.0, 10.0), (-5.0, 15.0), (-15.0, 5.0)],
                      "dw": [0.33, 0.34, 0.22, 0.29], "sem": [0.04, 0.04, 0.08, 0.05]},
    "quadruplet": {"T_ms": [-88.5, 83.7, 20.0], "dw": [-0.003, 0.06, 0.21],
                   "sem": [0.03, 0.04, 0.04]},
}

DATASETS: dict[str, dict[str, Any]] = {
    "sjostrom_2001": SJOSTROM_2001, "bi_poo_1998": BI_POO_1998, "wang_2005": WANG_2005,
}
