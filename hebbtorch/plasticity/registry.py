"""Names -> rules: the one vocabulary of every command (``protocol``, ``unsupervised``,
``bptt-stdp``, the CLI). A rule registered here is available by name everywhere; a rule file
calls :func:`register` for its own rule (see ``plasticity/rules/``; the package imports the
built-in ones, so they are registered before any user of this module runs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.core import PlasticityRule


class RuleEntry(NamedTuple):
    """``make(params)``: the rule with a named published parameter set (``params`` None: the
    default set); ``params_help``: what ``params`` may be (one line, for errors and --help)."""

    name: str
    summary: str
    make: Callable[[str | None], PlasticityRule]
    params_help: str = "no parameter sets"


_RULES: dict[str, RuleEntry] = {}


def register(entry: RuleEntry) -> RuleEntry:
    if entry.name in _RULES and _RULES[entry.name] != entry:
        raise HebbtorchError(f"a rule named {entry.name!r} is already registered")
    _RULES[entry.name] = entry
    return entry


def names() -> tuple[str, ...]:
    """Registered rule names, in registration order."""
    return tuple(_RULES)


def get(name: str) -> RuleEntry:
    if name not in _RULES:
        raise HebbtorchError(f"unknown rule {name!r}; choose from {', '.join(_RULES)}")
    return _RULES[name]


def make(name: str, params: str | None = None) -> PlasticityRule:
    """The rule called ``name`` with parameter set ``params`` (None: its default)."""
    return get(name).make(params)


def no_params(name: str, params: str | None) -> None:
    if params is not None:
        raise HebbtorchError(f"the {name} rule has one default parameter set (no params), "
                             f"got {params!r}")

