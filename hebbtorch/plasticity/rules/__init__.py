"""Plasticity rules, one file each."""
