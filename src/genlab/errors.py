"""One exception type per kind of failure. The CLI prints ``str(error)`` as one line and exits non-zero,
so every message names the culprit (a key, a file, a step) and says how to fix it."""


class GenlabError(Exception):
    """Base class: an error the user can act on (as opposed to a bug, which keeps its traceback)."""


class ConfigError(GenlabError):
    """A params file is malformed: unknown key, wrong type, unknown family or dataset name."""


class DataError(GenlabError):
    """A dataset file or raw input is missing, malformed, or contains non-finite values."""


class CheckpointError(GenlabError):
    """A checkpoint is unreadable, truncated, or was written for another configuration."""


class NumericsError(GenlabError):
    """Training or evaluation produced a non-finite value."""
