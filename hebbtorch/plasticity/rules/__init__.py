"""Plasticity rules, one file each."""

from hebbtorch.plasticity.rules.kheradpisheh import (
    KheradpishehParameters,
    KheradpishehSTDP,
    conv_winner_update,
    kheradpisheh_dw,
)

__all__ = ["KheradpishehParameters", "KheradpishehSTDP", "conv_winner_update", "kheradpisheh_dw"]
