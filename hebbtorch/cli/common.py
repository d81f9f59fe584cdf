"""Argument helpers shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from hebbtorch.errors import HebbtorchError


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
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v:g}")
    return v


def add_common(p: argparse.ArgumentParser, out_default: str) -> None:
    """Options nearly every command has: seed, device, output folder."""
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--out", type=Path, default=Path(out_default), help="output folder")


def ensure_out(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise HebbtorchError(f"output path {str(path)!r} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path
