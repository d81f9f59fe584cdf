"""Shared command line of the tutorials: ``--small`` (or ``HEBBTORCH_TUTORIAL_SMALL=1``) runs a
seconds-long version on small data, as the test suite does; ``--out`` is where pictures go."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def tutorial_args(description: str, default_out: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--small", action="store_true",
                   default=os.environ.get("HEBBTORCH_TUTORIAL_SMALL", "") not in ("", "0"),
                   help="seconds-long run on small data (what CI executes)")
    p.add_argument("--out", type=Path, default=Path(default_out), help="folder for pictures")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args
