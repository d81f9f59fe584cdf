"""Compile kernel sources on first use with the system C++ compiler (``$CXX``, else ``c++``).

:class:`ExtensionLibrary`: PyTorch operators (the neurons, the Diehl & Cook network): sources that
register their CPU implementations with ``TORCH_LIBRARY_IMPL``, built by
``torch.utils.cpp_extension`` (ninja; the three neurons take about 35 s of CPU time the first
time, loading the cached build ~0.4 s).
Builds are cached under ``$HEBBTORCH_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/hebbtorch/kernels``,
else ``~/.cache/hebbtorch/kernels``, keyed by a hash of the sources, the flags, the compiler,
torch's version and the CPU (the build uses ``-march=native``), so a changed source or another
machine rebuilds.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hebbtorch.errors import HebbtorchError

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


def _key(texts: Sequence[str], flags: Sequence[str]) -> str:
    cxx = _compiler()
    version = subprocess.run([*cxx, "--version"], capture_output=True, text=True).stdout
    return hashlib.sha256(
        "\0".join([*texts, *flags, *cxx, version, _cpu_id()]).encode()).hexdigest()[:16]


def _ninja() -> None:
    """Put ninja on the PATH: the ``ninja`` package's copy when none is there."""
    if shutil.which("ninja") is None:
        try:
            import ninja
        except ImportError:
            raise HebbtorchError("building the CPU kernels needs ninja: pip install ninja"
                                 ) from None
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


def build_extension(sources: Sequence[Path], name: str) -> None:
    """Build ``sources`` (C++ that registers PyTorch operators) into a cached shared library and
    load it, which registers the operators. Raises HebbtorchError with the compiler's message."""
    import torch
    from torch.utils import cpp_extension

    _ninja()
    sources = sorted(sources)  # the cache key must not depend on the order of registration
    cflags = [f for f in FLAGS if f not in ("-fPIC", "-shared", "-std=c++17")]
    headers = sorted({h for d in {s.parent for s in sources} | {Path(__file__).parent}
                      for h in d.glob("*.h")})
    texts = [p.read_text() for p in (*sources, *headers)]
    key = _key([*texts, torch.__version__, sys.version], cflags)
    ext = f"{name}_{key}"
    out = cache_dir() / ext
    out.mkdir(parents=True, exist_ok=True)
    try:
        cpp_extension.load(name=ext, sources=[str(s) for s in sources], extra_cflags=cflags,
                           extra_ldflags=["-fopenmp"], build_directory=str(out),
                           extra_include_paths=[str(Path(__file__).parent)],
                           is_python_module=False, verbose=False)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        names = ", ".join(s.name for s in sources)
        raise HebbtorchError(f"building {names} failed:\n{str(e)[-3000:]}") from e


class ExtensionLibrary:
    """PyTorch operator sources built together on first call (:func:`build_extension`) and
    loaded once per process. ``add`` registers a source (each neuron's kernel module adds its
    own); ``prepare`` runs before a build (imports the modules that add sources). A failed
    build is remembered in ``state`` and raised again on later calls, as a ``HebbtorchError``
    naming ``what`` and the compiler's message."""

    def __init__(self, name: str, what: str, sources: Sequence[Path] = (),
                 prepare: Callable[[], object] | None = None) -> None:
        self.name, self.what, self.prepare = name, what, prepare
        self.sources: list[Path] = list(sources)
        self.state: dict[str, object] = {}  # "lib" (the sources loaded), or "error"

    def add(self, source: Path) -> None:
        if source not in self.sources:
            self.sources.append(source)

    def __call__(self) -> None:
        if "error" in self.state:
            raise self.state["error"]  # type: ignore[misc]
        if self.prepare is not None:
            self.prepare()
        done = self.state.setdefault("lib", [])
        pending = [s for s in self.sources if s not in done]  # type: ignore[operator]
        if not pending:
            return
        try:
            build_extension(pending, self.name)
        except (HebbtorchError, OSError) as e:
            self.state["error"] = HebbtorchError(f"{self.what} unavailable: {e}")
            raise self.state["error"] from e  # type: ignore[misc]
        done.extend(pending)  # type: ignore[attr-defined]
