"""User-facing errors.

A :class:`GankitError` is a mistake the user can fix (bad config, missing data, bad path).
The CLI prints its message as one line and exits non-zero, without a traceback.
"""


def printable(text: str) -> str:
    """``text`` with every line break or other non-printable character escaped (``\\n``, ``\\x00``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in '…' when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shorten(text: str, limit: int) -> str:
    """``text`` on one line (whitespace runs collapsed, other control characters as '?'), at most
    ``limit`` characters, cut at a word boundary with '…'; '' if no word boundary fits."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(str(text).split()))
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else ""
    return cut.rstrip(" ,;:.-(") + "…" if cut else ""


class GankitError(Exception):
    """An error caused by user input; its message is one actionable line."""


class PeerLost(GankitError):
    """Another process of a multi-process run stopped, so this one cannot go on (its collectives failed)."""


class ConfigError(GankitError):
    """Invalid configuration: unknown key, wrong type or out-of-range value."""


class DataError(GankitError):
    """A dataset is missing, unreadable or malformed."""


class CheckpointError(GankitError):
    """A checkpoint is missing, corrupt or belongs to another configuration."""


class TrainingDiverged(GankitError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


class WriteError(GankitError):
    """A file could not be written (disk full, read-only file system, no permission, ...).

    ``path`` is the file gankit was writing; the message names it and the operating system's cause."""

    def __init__(self, message: str, path=None):
        super().__init__(message)
        self.path = path


class RunLocked(GankitError):
    """Another live gankit process holds the run directory's lock."""
