"""One exception type for bad user input, so the CLI can print one line instead of a traceback."""


class HebbtorchError(ValueError):
    """Invalid input or configuration: the message names the problem and what was expected."""
