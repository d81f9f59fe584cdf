"""Interoperability with other SNN tools (NIR: :mod:`hebbtorch.interop.nir`)."""

from hebbtorch.interop.nir import (
    DEFAULT_DT,
    beta_to_tau,
    export_nir,
    from_nir,
    import_nir,
    tau_to_beta,
    to_nir,
)

__all__ = ["DEFAULT_DT", "beta_to_tau", "export_nir", "from_nir", "import_nir", "tau_to_beta",
           "to_nir"]
