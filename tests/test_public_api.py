"""The public API is importable from each subpackage's ``__init__``: every subpackage has an
``__all__`` whose names resolve (some lazily, so that importing a package stays light and
adds no import cycle), and every public module of it contributes to it."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import hebbtorch

ROOT = Path(hebbtorch.__file__).parent
# modules that are machinery, not API: the command line (its API is `hebbtorch ...`), the
# kernels' backends (reached through the neurons and kernels.dispatch)
INTERNAL_PACKAGES = {"cli"}
INTERNAL_MODULES = {
    "hebbtorch.kernels.alif", "hebbtorch.kernels.alif_triton", "hebbtorch.kernels.build",
    "hebbtorch.kernels.cpu", "hebbtorch.kernels.diehl_cook", "hebbtorch.kernels.diehl_cook_eval",
    "hebbtorch.kernels.diehl_cook_ops", "hebbtorch.kernels.diehl_cook_triton",
    "hebbtorch.kernels.dispatch",
    "hebbtorch.kernels.finite", "hebbtorch.kernels.lif", "hebbtorch.kernels.lif_triton",
    "hebbtorch.kernels.ops", "hebbtorch.kernels.refractory", "hebbtorch.kernels.refractory_triton",
    "hebbtorch.kernels.threads",
}
PACKAGES = sorted(p.name for p in ROOT.iterdir()
                  if (p / "__init__.py").exists() and p.name not in INTERNAL_PACKAGES)


def _public_defs(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)
            and not n.name.startswith("_")}


@pytest.mark.parametrize("name", PACKAGES)
def test_every_subpackage_exports_its_api(name):
    pkg = importlib.import_module(f"hebbtorch.{name}")
    exported = getattr(pkg, "__all__", None)
    assert exported, f"hebbtorch.{name} has no __all__"
    assert len(set(exported)) == len(exported), "a name listed twice"
    for n in exported:
        assert getattr(pkg, n) is not None, n
    seen, unreachable = set(exported), []
    for sub in pkgutil.iter_modules(pkg.__path__):  # a nested package's own API counts
        if sub.ispkg:
            seen |= set(importlib.import_module(f"{pkg.__name__}.{sub.name}").__all__)
    for mod in pkgutil.walk_packages(pkg.__path__, f"hebbtorch.{name}."):
        short = mod.name.rsplit(".", 1)[-1]
        if short.startswith("_") or mod.ispkg or mod.name in INTERNAL_MODULES:
            continue
        path = ROOT.parent / (mod.name.replace(".", "/") + ".py")
        defs = _public_defs(path)
        if defs and not (defs & seen or short in seen):  # its API unreachable from the package
            unreachable.append(mod.name)
    assert not unreachable, f"nothing of {unreachable} is in hebbtorch.{name}.__all__"


def test_lazy_names_are_the_modules_own():
    from hebbtorch.learning import run_loop, train_unsupervised
    from hebbtorch.learning.run import run_loop as direct
    from hebbtorch.learning.unsupervised import train_unsupervised as direct_u
    from hebbtorch.viz import spike_raster
    from hebbtorch.viz.raster import spike_raster as direct_r

    assert run_loop is direct and train_unsupervised is direct_u and spike_raster is direct_r
    with pytest.raises(AttributeError, match="no_such_name"):
        importlib.import_module("hebbtorch.viz").no_such_name  # noqa: B018
