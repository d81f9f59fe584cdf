"""Tutorial (c): run the classic plasticity protocols against published data.

Each protocol imposes pre- and postsynaptic spike trains on one synapse (no neuron model), as the
modelling papers do, and batches every condition (each Δt, each frequency) into one simulation:
the STDP window of Bi & Poo 1998 (60 pairings at 1 Hz) and the frequency dependence of Sjöström
et al. 2001 (pairings at Δt = ±10 ms, 0.1-50 Hz). The result dicts carry the published points
and the model's RMSE against them. Run: ``python tutorials/plasticity_protocols.py [--small]``.
"""

from __future__ import annotations

import json

from _common import tutorial_args

from hebbtorch.studies.protocols import frequency_dependence, pairing_window
from hebbtorch.viz.plasticity import plot_frequency, plot_window

args = tutorial_args("plasticity protocols vs published data", "docs/img/tutorials/protocols")

# 1. STDP window: pair STDP (Song et al. 2000) and the triplet rule's hippocampal all-to-all set
#    (Pfister & Gerstner 2006, Table 4) against Bi & Poo's 42 digitised points.
windows = [pairing_window("pair"), pairing_window("triplet", "hippocampal/all_to_all/full")]
# 2. Frequency dependence: pair STDP cannot produce Sjöström's LTP at -10 ms and high rates;
#    the triplet rule (visual-cortex set) can. --small checks fewer frequencies.
freqs = [0.1, 10, 20, 40, 50] if args.small else None
frequency = [frequency_dependence("pair", freqs=freqs),
             frequency_dependence("triplet", "visual_cortex/all_to_all/full", freqs=freqs)]

summary = {f"{r['protocol']}/{r['rule']}": round(r["rmse_vs_data"], 4) for r in windows + frequency}
print(json.dumps(summary, indent=1))
plot_window(windows).savefig(args.out / "window.png", bbox_inches="tight")
plot_frequency(frequency).savefig(args.out / "frequency.png", bbox_inches="tight")
(args.out / "rmse.json").write_text(json.dumps(summary, indent=1) + "\n")
