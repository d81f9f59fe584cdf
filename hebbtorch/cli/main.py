"""Entry point of the ``hebbtorch`` command.

Each command lives in its own module exposing ``register(subparsers)``, which adds a parser
whose ``func`` default takes the parsed namespace; options come from the shared helpers of
:mod:`hebbtorch.cli.common`. Start-up stays light: only the command named on the line has its
module (and so torch and the rest) imported; the others are listed from :data:`COMMANDS`, so
``hebbtorch --help`` and ``--version`` import no torch at all. User errors
(:class:`HebbtorchError`, a bad option) print one line and exit with status 2; ``--debug``
(anywhere on the line) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable

from hebbtorch import __version__
from hebbtorch.cli.common import Parser
from hebbtorch.errors import HebbtorchError

# Command -> its one-line summary in `hebbtorch --help` (the same text as its module's parser
# help: tests/test_cli.py checks), in the order shown; the module is hebbtorch.cli.<name with _>.
COMMANDS = {
    "train": "train a network by backpropagation through time",
    "compare": "spiking vs non-spiking twin: a table and a plot",
    "visualize": "heat maps and traces of neuron activity for one example",
    "demo": "seed SNN vs its ANN twin on bundled MNIST digits, with pictures",
    "encode": "compare spike encodings of one image (rasters + counts)",
    "protocol": "run a plasticity protocol (STDP window, frequency, ...)",
    "bptt-stdp": "measure the STDP-like window of BPTT weight updates",
    "astdp": "approximate STDP: learn and generate with STDP only",
    "export-nir": "export a trained spiking network to NIR",
    "spikeprop": "SpikeProp on XOR or Iris (Bohte et al. 2002)",
    "unsupervised": "Diehl & Cook 2015 unsupervised network with a local rule; writes "
                    "metrics.json, checkpoint.pt and pictures; resumes from its checkpoint",
    "calcium": "calcium-bistable rule: protocols vs data, supervised learning with the rule "
               "alone",
    "conv-stdp": "convolutional STDP features (Kheradpisheh et al. 2018) + linear readout; "
                 "writes metrics.json and kernel pictures",
}


def command_module(name: str):
    """The module of command ``name`` (imported now: this is the heavy part)."""
    return importlib.import_module(f"hebbtorch.cli.{name.replace('-', '_')}")


def build_parser(load: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``hebbtorch`` parser. ``load``: the commands whose modules are imported and whose
    full parsers are built (default: all); every other command is listed with its summary
    only (it cannot be parsed, which is fine for a line that does not name it)."""
    parser = Parser(
        prog="hebbtorch",
        description="Spiking neural networks trained by BPTT and by local plasticity.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks for errors (also after the command)")
    parser.add_argument("--version", action="version", version=f"hebbtorch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    load = set(COMMANDS if load is None else load)
    for name, summary in COMMANDS.items():
        if name in load:
            command_module(name).register(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def named_command(argv: list[str]) -> str | None:
    """The command a command line names: its first word that is not an option (the top-level
    options take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug anywhere before a lone "--": the commands' own parsers need not know it
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    argv = [a for i, a in enumerate(argv) if i >= end or a != "--debug"]
    command = named_command(argv)
    parser = build_parser([command] if command in COMMANDS else [])
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
