"""The Diehl & Cook kernels as PyTorch operators (``torch.library``, typed schemas; the
dispatcher refuses, at load time, a C++ implementation whose signature differs):

* ``hebbtorch::dc_run`` -- the exact online network (batch 1) over a presentation and its
  rest, learning or not (``diehl_cook_cpu.cpp``; :mod:`hebbtorch.kernels.diehl_cook`);
* ``hebbtorch::dc_eval`` -- one frozen attempt for a batch of images
  (``diehl_cook_eval_cpu.cpp``; :mod:`hebbtorch.kernels.diehl_cook_eval`);
* ``hebbtorch::dc_draw`` -- the Poisson input both draw, as a dense tensor (tests).

Both sources share ``diehl_cook_kernels.h`` (neuron step, rest jump, input draws) and are built
together with ``torch.utils.cpp_extension`` on first use (:class:`~hebbtorch.kernels.build.
ExtensionLibrary`, cached on disk). The ops mutate the state they are given (the schemas say
which arguments) and have fake implementations, so ``torch.library.opcheck`` can check them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hebbtorch.kernels.build import ExtensionLibrary

_HERE = Path(__file__).parent
_LIB = torch.library.Library("hebbtorch", "FRAGMENT")  # kept alive: the definitions live in it

# The population's arguments, shared by dc_run and dc_eval (population_args)
_POPULATION = ("Tensor v_rest, Tensor v_reset, Tensor E_inh, Tensor neg_dt_tau, Tensor n_ref, "
               "float[] consts")
# x [steps, 1, n_in] (0/1) or prob [1, n_in] (drawn with seed) or neither (silence); then `rest`
# steps of the rest period. traces/rule_f/rule_i and gb_t/gb_f/gb_i: rule_args. Returns
# Graupner-Brunel's drift clock (0 for other rules).
RUN = ("(Tensor? x, Tensor? prob, int seed, int steps, int rest, Tensor(a!) w, "
       "Tensor(b!) theta, Tensor(c!) thresh, Tensor(d!) v, Tensor(e!) ge, Tensor(f!) gi, "
       f"Tensor(g!) ref, {_POPULATION}, float theta_plus, Tensor(h!)? counts, bool learn, "
       "Tensor(i!)[] traces, float[] rule_f, int[] rule_i, Tensor(j!)[] gb_t, float[] gb_f, "
       "int[] gb_i, int threads) -> int")
# prob [B, n_in]; state [B, 2n] and counts [B, n] updated in place
EVAL = ("(Tensor prob, int seed, int steps, int rest, Tensor w, Tensor thresh, Tensor(a!) v, "
        f"Tensor(b!) ge, Tensor(c!) gi, Tensor(d!) ref, {_POPULATION}, Tensor(e!) counts, "
        "int threads) -> ()")
DRAW = "(Tensor prob, int seed, int steps) -> Tensor"


def _run_fake(*args: Any) -> int:
    return 0


def _eval_fake(*args: Any) -> None:
    return None


def _draw_fake(prob: torch.Tensor, seed: int, steps: int) -> torch.Tensor:
    return prob.new_empty(steps, *prob.shape)


for _name, _schema, _fake in (("dc_run", RUN, _run_fake), ("dc_eval", EVAL, _eval_fake),
                              ("dc_draw", DRAW, _draw_fake)):
    _LIB.define(_name + _schema)
    torch.library.register_fake(f"hebbtorch::{_name}", _fake, lib=_LIB)

library = ExtensionLibrary("diehl_cook_cpu", "fused Diehl & Cook kernels",
                           [_HERE / "diehl_cook_cpu.cpp", _HERE / "diehl_cook_eval_cpu.cpp"])


def seed32(seed: int) -> int:
    """The 32 bits of ``seed`` that torch's CPU generator uses (``manual_seed``)."""
    return int(seed) & 0xFFFFFFFF


def population_args(net: Any) -> tuple:
    """``net``'s (a DiehlCookNetwork) per-neuron constants and per-step factors, in the order of
    ``_POPULATION`` (the C++ side: diehl_cook_kernels.h, Population)."""
    c, p = net.consts, net.params
    return (c.v_rest, c.v_reset, c.E_inh, c.neg_dt_tau, c.n_ref,
            [c.decay_ge, c.decay_gi, c.mean_ge, c.mean_gi, p.E_exc, p.w_ei, p.w_ie])
