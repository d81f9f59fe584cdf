"""Experiments: plasticity protocols with published-data overlays, and other studies."""
