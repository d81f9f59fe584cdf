"""Compile a kernel source on first use and load it with ctypes; cache the shared library.

The CPU kernels are plain C ABI (no torch headers, no pybind11, no ninja), so a build takes about
a second with the system C++ compiler (``$CXX``, else ``c++``). Builds are cached under
``$HEBBTORCH_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/hebbtorch/kernels``, else
``~/.cache/hebbtorch/kernels``, keyed by a hash of the source, the flags, the compiler and the
CPU (the build uses ``-march=native``), so a changed source or another machine rebuilds.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from hebbtorch.errors import HebbtorchError
from hebbtorch.io import atomic_write

# -ffp-contract=off: no fused multiply-add, so the kernels round exactly as the eager reference;
# -fno-trapping-math (as torch itself is built): lets branch-free selects vectorise
FLAGS = ("-O3", "-march=native", "-std=c++17", "-fPIC", "-shared", "-fopenmp",
         "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math")


def cache_dir() -> Path:
    env = os.environ.get("HEBBTORCH_KERNEL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hebbtorch" / "kernels"


def compiler_available() -> bool:
    """True if the C++ compiler (``$CXX``, else ``c++``) is on the PATH. Where it is, a kernel
    that fails to build is a bug to report (the tests fail), not a reason to skip."""
    cxx = shlex.split(os.environ.get("CXX", "c++"))
    return bool(cxx) and shutil.which(cxx[0]) is not None


def _compiler() -> list[str]:
    cxx = shlex.split(os.environ.get("CXX", "c++"))
    if not compiler_available():
        raise HebbtorchError(f"no C++ compiler found (looked for {cxx[0] if cxx else 'CXX'!r})")
    return cxx


def _cpu_id() -> str:
    """What ``-march=native`` depends on: the CPU model and its feature flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    keep = [ln for ln in lines if ln.startswith(("model name", "flags", "Features"))]
    return "\n".join(sorted(set(keep)))


def build(source: Path, name: str) -> ctypes.CDLL:
    """Compile ``source`` (C++) into a cached shared library and load it.

    Raises HebbtorchError with the compiler's message if there is no compiler or the build fails.
    """
    cxx = _compiler()
    version = subprocess.run([*cxx, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256(
        "\0".join([source.read_text(), *FLAGS, *cxx, version, _cpu_id()]).encode()
    ).hexdigest()[:16]
    lib = cache_dir() / f"{name}-{key}.so"
    if not lib.exists():
        # build in a private temp dir, then publish atomically: concurrent builds can't clash
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
            out = Path(tmp) / "lib.so"
            proc = subprocess.run([*cxx, *FLAGS, str(source), "-o", str(out)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise HebbtorchError(
                    f"building {source.name} failed ({' '.join(cxx)}):\n{proc.stderr[-2000:]}"
                )
            atomic_write(lib, lambda f: f.write(out.read_bytes()))
    return ctypes.CDLL(str(lib))


class KernelLibrary:
    """A kernel source built on first use (:func:`build`) and loaded once per process;
    ``setup`` declares its functions' ctypes signatures. A failed build is remembered in
    ``state`` and raised again on later calls, as a ``HebbtorchError`` naming ``what``."""

    def __init__(self, source: Path, name: str, what: str,
                 setup: Callable[[ctypes.CDLL], None]) -> None:
        self.source, self.name, self.what, self.setup = source, name, what, setup
        self.state: dict[str, object] = {}  # "lib", or "error"

    def __call__(self) -> ctypes.CDLL:
        if "lib" not in self.state:
            if "error" in self.state:
                raise self.state["error"]  # type: ignore[misc]
            try:
                lib = build(self.source, self.name)
            except (HebbtorchError, OSError) as e:
                self.state["error"] = HebbtorchError(f"{self.what} unavailable: {e}")
                raise self.state["error"] from e  # type: ignore[misc]
            self.setup(lib)
            self.state["lib"] = lib
        return self.state["lib"]  # type: ignore[return-value]
