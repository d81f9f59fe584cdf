"""Imported first by every bench script that imports hebbtorch: puts the checkout this script
sits in ahead of the hebbtorch installed in the venv (an editable install of another checkout
or worktree would otherwise be measured)."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
