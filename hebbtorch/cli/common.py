"""The one vocabulary of the ``hebbtorch`` commands: argument helpers every subcommand uses.

``--dataset``/``--data-root`` (data), ``--batch-size``, ``--epochs`` or ``--images`` (how much
training), ``--train-images``/``--test-images`` (subsets), ``--device`` (default ``auto``),
``--seed``, ``--out`` (default ``runs/<command>``), ``--quiet``, ``--overwrite``, ``--resume``.
Old spellings (:data:`RENAMED`) fail with a message naming the new one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hebbtorch.errors import HebbtorchError

SEED_MAX = 2**32 - 1  # what NumPy accepts; derived seeds (seed * 1_000_003 + k) stay in int64

# old spelling -> new one, for every command
RENAMED = {
    "--data": "--dataset",
    "--batch": "--batch-size",
    "--max-train": "--train-images",
    "--max-test": "--test-images",
    "--train-size": "--train-images",
    "--neurons": "--neuron",  # bptt-stdp only: a list of neuron models
}


class Parser(argparse.ArgumentParser):
    """Errors in one line (the problem and where to look), not the whole usage."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v:g}")
    return v


def seed_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"seed must be in 0..{SEED_MAX}, got {v}")
    return v


class _Renamed(argparse.Action):
    def __init__(self, option_strings, dest, new: str = "", **kw) -> None:
        super().__init__(option_strings, dest, nargs="*", help=argparse.SUPPRESS, **kw)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string} was renamed {self.new}")


def add_renamed(p: argparse.ArgumentParser, *new_names: str) -> None:
    """Old spellings of ``new_names`` (all of :data:`RENAMED` pointing at them) fail with a
    message naming the new one; only those not otherwise taken by ``p``."""
    taken = set(p._option_string_actions)
    for old, new in RENAMED.items():
        if new in new_names and old not in taken:
            p.add_argument(old, action=_Renamed, new=new, dest=f"_renamed{old}")


def add_data(p: argparse.ArgumentParser, default: str | None = "mnist-5k", *,
             download: bool = False) -> None:
    """``--dataset`` and ``--data-root`` (and ``--download`` where the command can fetch)."""
    p.add_argument("--dataset", default=default,
                   help="mnist-5k (ships with the install), fashion-mnist, mnist, or a folder "
                   f"of IDX files (default {default})")
    p.add_argument("--data-root", default=None, help="folder holding the data set's files")
    if download:
        p.add_argument("--download", action="store_true",
                       help="download the data set into --data-root (or ./data) if missing")
    add_renamed(p, "--dataset")


def add_subsets(p: argparse.ArgumentParser, train_default: int | None = None,
                test_default: int | None = None, *, test: bool = True,
                where: str = "") -> None:
    """``--train-images`` and (with ``test``) ``--test-images``: use only the first N of each
    split. ``where`` starts their help with where they apply (e.g. ``"train: "``)."""
    p.add_argument("--train-images", type=positive_int, default=train_default, metavar="N",
                   help=f"{where}use only the first N training images (default: "
                   f"{train_default or 'all'})")
    if test:
        p.add_argument("--test-images", type=positive_int, default=test_default, metavar="N",
                       help=f"{where}use only the first N test images (default: "
                       f"{test_default or 'all'})")
    add_renamed(p, "--train-images", *(("--test-images",) if test else ()))


def add_batch_size(p: argparse.ArgumentParser, default: int | None, help: str = "") -> None:
    p.add_argument("--batch-size", type=positive_int, default=default,
                   help=help or f"samples per step (default {default})")
    add_renamed(p, "--batch-size")


def add_run(p: argparse.ArgumentParser, command: str, *, resume: bool = True,
            device: bool = True, quiet: bool = True, out: str | None = None) -> None:
    """``--seed``, ``--device``, ``--out`` (default ``runs/<command>``), ``--quiet`` and, for
    commands that write a run folder, ``--resume`` and ``--overwrite``."""
    p.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    if device:
        p.add_argument("--device", default="auto",
                       help="auto (CUDA when available), cpu, cuda or cuda:N (default auto)")
    default = out or f"runs/{command}"
    p.add_argument("--out", type=Path, default=Path(default),
                   help=f"output folder (default {default})")
    if quiet:
        p.add_argument("--quiet", action="store_true", help="no progress bars")
    if resume:
        p.add_argument("--resume", action="store_true",
                       help="continue the unfinished run in --out from its checkpoint")
        p.add_argument("--overwrite", action="store_true",
                       help="replace an earlier run in --out (its files are deleted)")


def add_time_budget(p: argparse.ArgumentParser, where: str = "at a step boundary") -> None:
    """``--time-budget SECONDS``: the training of this call stops ``where`` past it, with a
    checkpoint; ``--resume`` goes on (for another budget)."""
    p.add_argument("--time-budget", type=positive_float, default=None, metavar="SECONDS",
                   help=f"stop training after this many seconds of this call ({where}; "
                   "checkpointed, continue with --resume)")


def ensure_out(path: Path) -> Path:
    """Create an output folder that holds no run (figures, tables), checked before the work."""
    from hebbtorch.learning.run import prepare_out

    return prepare_out(path)


def device_name(name: str) -> str:
    """``auto`` resolved, and a CUDA device on a machine without one refused in one line."""
    from hebbtorch.seed import resolve_device

    return str(resolve_device(name))


__all__ = ["HebbtorchError", "Parser", "add_batch_size", "add_data", "add_renamed", "add_run",
           "add_subsets", "add_time_budget", "device_name", "ensure_out", "positive_float",
           "positive_int", "seed_int"]
