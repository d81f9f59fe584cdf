"""Plasticity rules, one file each."""

from hebbtorch.plasticity.rules.calcium_bistable import (
    CALCIUM_BISTABLE_SETS,
    CalciumBistable,
    CalciumBistableParameters,
    calcium_bistable_parameters,
)

__all__ = ["CALCIUM_BISTABLE_SETS", "CalciumBistable", "CalciumBistableParameters",
           "calcium_bistable_parameters"]
