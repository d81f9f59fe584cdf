"""Every `hebbtorch ...` command in the docs' code blocks parses with the CLI as it is now.

A renamed or removed option, a command that no longer exists, or an old spelling of a flag
fails here (argparse exits), so the pages keep up with the CLI's vocabulary. Commands are only
parsed, not run; schematic lines (``...``, ``[optional]``, shell variables) are skipped.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from hebbtorch.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([*(ROOT / "docs").rglob("*.md"), ROOT / "README.md"])
COMMAND = re.compile(r"(?:^|[\s`])(?:\.venv/bin/)?hebbtorch\s+(.*)|hebbtorch\.cli\.main\s+(.*)")
SCHEMATIC = re.compile(r"\$|\.\.\.|\[|<|\(")


def _commands():
    """(page:line, argv) of every hebbtorch command in a fenced or indented code block."""
    for page in PAGES:
        lines = page.read_text().splitlines()
        fenced, i = False, 0
        while i < len(lines):
            line = lines[i]
            if line.strip().startswith("```"):
                fenced = not fenced
            elif ((fenced or line.startswith("    ")) and not line.lstrip().startswith(
                    ("from ", "import ")) and (m := COMMAND.search(line))):
                start, cmd = i + 1, m.group(1) or m.group(2)
                while cmd.rstrip().endswith("\\") and i + 1 < len(lines):
                    i += 1
                    cmd = cmd.rstrip()[:-1] + " " + lines[i].strip()
                cmd = cmd.split(" #")[0].split("`")[0].strip()
                if cmd and not SCHEMATIC.search(cmd) and not cmd.startswith("-"):
                    yield f"{page.relative_to(ROOT)}:{start}", shlex.split(cmd)
            i += 1


CASES = list(_commands())


def test_the_docs_show_many_commands():
    assert len(CASES) >= 40, len(CASES)


@pytest.fixture(scope="module")
def parser():
    return build_parser()


@pytest.mark.parametrize("argv", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_documented_command_parses(parser, argv):
    try:
        parser.parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"hebbtorch {' '.join(argv)}: argparse exit {e.code}")
