"""Entry point of the ``hebbtorch`` command.

Each command lives in its own module exposing ``register(subparsers)``, which adds a parser
whose ``func`` default takes the parsed namespace; options come from the shared helpers of
:mod:`hebbtorch.cli.common`. User errors (:class:`HebbtorchError`, a bad option) print one line
and exit with status 2; ``--debug`` (anywhere on the line) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hebbtorch import __version__
from hebbtorch.cli.common import Parser
from hebbtorch.errors import HebbtorchError

# Module names under hebbtorch.cli, in the order they appear in --help.
COMMANDS = [
    "train",
    "compare",
    "visualize",
    "demo",
    "encode",
    "protocol",
    "bptt-stdp",
    "astdp",
    "export-nir",
    "spikeprop",
    "unsupervised",
    "calcium",
    "conv-stdp",
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hebbtorch",
        description="Spiking neural networks trained by BPTT and by local plasticity.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks for errors (also after the command)")
    parser.add_argument("--version", action="version", version=f"hebbtorch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"hebbtorch.cli.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug anywhere before a lone "--": the commands' own parsers need not know it
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    argv = [a for i, a in enumerate(argv) if i >= end or a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = debug
    try:
        result = args.func(args)
    except HebbtorchError as e:
        if debug:
            raise
        print(f"hebbtorch {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hebbtorch {args.command}: interrupted (checkpoints already written are kept)",
              file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
