"""Interoperability with other SNN tools (NIR: :mod:`hebbtorch.interop.nir`)."""
