"""Registry of fused implementations: the bottom of the kernel stack.

A kernel module registers what it can run fast (:func:`register`: a name such as ``"lif"``, a
device type, the function, and why it can't take a call); a neuron asks :func:`select` for one
and runs its reference loop when there is none. So neurons never import kernels, and kernels
import neurons' parameter types: no import cycle. The kernel modules that register are listed
in ``hebbtorch.kernels.PROVIDERS`` and imported on the first lookup, not before (importing them
with this module would close the cycle again).

Backends: "reference" (the PyTorch loop), "fused" (the registered kernel; HebbtorchError when
it can't run the call), "auto" (the kernel when it supports the call and builds, else the
reference, with one warning naming the cause if the build failed). ``HEBBTORCH_BACKEND=reference``
in the environment makes "auto" mean "reference".
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

from hebbtorch.errors import HebbtorchError

BACKENDS = ("auto", "fused", "reference")


class Fused(NamedTuple):
    """run: same arguments and result as the reference sequence function; unsupported: same
    arguments, returns why ``run`` can't take the call (None if it can); load: builds/loads what
    ``run`` needs (raises HebbtorchError naming the cause), None if nothing."""

    run: Callable[..., Any]
    unsupported: Callable[..., str | None]
    load: Callable[[], object] | None = None


_registry: dict[tuple[str, str], Fused] = {}
_loaded: list[bool] = []  # non-empty once the providers are imported
warned: set[str] = set()  # build errors already reported to the user


def check_backend(backend: str) -> str:
    """Reject a backend other than "auto", "fused" or "reference"."""
    if backend not in BACKENDS:
        raise HebbtorchError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def register(name: str, device: str, run: Callable[..., Any], *,
             unsupported: Callable[..., str | None],
             load: Callable[[], object] | None = None) -> None:
    """Register ``run`` as the fused ``name`` on ``device`` ("cpu", "cuda"); a later
    registration replaces an earlier one."""
    _registry[(name, device)] = Fused(run, unsupported, load)


def load_providers() -> None:
    """Import the modules of ``hebbtorch.kernels.PROVIDERS`` (once): they register themselves."""
    if not _loaded:
        for module in importlib.import_module("hebbtorch.kernels").PROVIDERS:
            importlib.import_module(module)
        _loaded.append(True)


def lookup(name: str, device: str) -> Fused | None:
    """The fused ``name`` on ``device``, or None (the providers are imported on first use)."""
    load_providers()
    return _registry.get((name, device))


def reference_forced(backend: str) -> bool:
    """True if ``backend`` (or "auto" with ``HEBBTORCH_BACKEND=reference``) means the loop."""
    return check_backend(backend) == "reference" or (
        backend == "auto" and os.environ.get("HEBBTORCH_BACKEND") == "reference")


def resolve(backend: str, reason: str | None, load: Callable[[], object] | None) -> bool:
    """Whether to run the fused kernel: ``reason`` says why it can't take the call (None if it
    can); ``load`` builds/loads it. "fused" raises where "auto" falls back (warning once per
    distinct build error)."""
    if reference_forced(backend):
        return False
    if reason is not None:
        if backend == "fused":
            raise HebbtorchError(f"backend='fused' can't run this call: {reason}")
        return False
    if load is None or backend == "fused":
        if load is not None:
            load()
        return True
    try:
        load()
    except HebbtorchError as e:
        if str(e) not in warned:
            warned.add(str(e))
            warnings.warn(f"{e}; using the reference loop", RuntimeWarning, stacklevel=4)
        return False
    return True


def select(name: str, backend: str, currents: Any, *args: Any) -> Callable[..., Any] | None:
    """The fused ``name`` to run on ``(currents, *args)`` under ``backend``, or None for the
    reference loop. ``currents`` (a tensor) gives the device."""
    if reference_forced(backend):
        return None
    device = currents.device.type
    impl = lookup(name, device)
    if impl is None:  # "fused" raises here, "auto" falls back
        resolve(backend, f"device {device} (no fused kernel of {name} there)", None)
        return None
    return impl.run if resolve(backend, impl.unsupported(currents, *args), impl.load) else None
