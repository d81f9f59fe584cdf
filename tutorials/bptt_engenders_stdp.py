"""Tutorial (f): does backpropagation through time engender STDP?

One postsynaptic neuron gets a plastic synapse ``w`` (one presynaptic spike at ``t_pre``) and a
strong fixed drive that makes it fire at ``t_post``. A loss on its output is backpropagated
through time; ``-dL/dw`` for each Δt = t_post - t_pre (one batch row per Δt, all in one
simulation) is BPTT's "learning window", compared here with the windows of the STDP rules under
the Bi & Poo protocol, and fitted by an exponential on each side (time constants in ms).
The protocol is deterministic (no noise), so one run per setting is the whole result.
Run: ``python tutorials/bptt_engenders_stdp.py [--small]``.
"""

from __future__ import annotations

import json

from _common import tutorial_args

from hebbtorch.studies.bptt_stdp import DEFAULT_PROTOCOL, protocol_study, stdp_rule_windows
from hebbtorch.viz.bptt_stdp import plot_protocol_grid

args = tutorial_args("BPTT windows vs STDP", "docs/img/tutorials/bptt_stdp")

# 1. The settings: the seed's graded neuron and a binary LIF with a fast-sigmoid surrogate;
#    a rate loss (asks for more output) and a spike-timing loss (van Rossum distance).
neurons = ("seed", "lif-fast_sigmoid")
losses = ("rate", "timing") if args.small else ("rate", "timing", "class")
base = DEFAULT_PROTOCOL._replace(dts=tuple(range(-40, 41, 2 if args.small else 1)))

# 2. BPTT windows (one backward pass per setting) and the rules' windows on the same Δt grid.
study = protocol_study(neurons, losses, base, ltd=False)
rules = stdp_rule_windows(list(base.dts))

# 3. Fitted time constants: a causal (Δt > 0) potentiation side is what STDP predicts.
def tau(side: dict) -> float | None:
    return None if side["tau_ms"] is None else round(side["tau_ms"], 1)


fits = {k: {"causal tau (ms)": tau(r["fit"]["causal"]),
            "acausal tau (ms)": tau(r["fit"]["acausal"]), "LTD branch": r["fit"]["ltd_branch"]}
        for k, r in study["windows"].items()}
print(json.dumps(fits, indent=1))
(args.out / "fits.json").write_text(json.dumps(fits, indent=1) + "\n")
plot_protocol_grid(study, rules, args.out / "windows.png")
