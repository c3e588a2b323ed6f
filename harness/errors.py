"""Error types the CLI turns into one-line messages (exit code 2) instead of tracebacks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """A user-facing error: bad input, unknown name, malformed suite. Printed as one line."""


class Diverged(Exception):
    """Raised inside a training loop when the loss becomes NaN or infinite.

    The runner records the cell as ``diverged`` together with the last finite metrics, so a
    learning rate that blows up is a result, not a crash.
    """

    def __init__(self, message: str, metrics: dict | None = None):
        super().__init__(message)
        self.metrics = dict(metrics or {})


def unknown_name(kind: str, name: str, known: Iterable[str], where: str = "") -> HarnessError:
    """Build the standard 'unknown X' error with close-match suggestions and the allowed values."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    allowed = ", ".join(known) if known else "(none registered)"
    prefix = f"{where}: " if where else ""
    return HarnessError(f"{prefix}unknown {kind} {name!r}{hint} (allowed: {allowed})")


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message (its type name if it has none): library
    errors often carry a multi-line explanation, and a HarnessError must stay one line."""
    lines = [t.strip() for t in str(exc).splitlines() if t.strip()]
    return lines[0] if lines else type(exc).__name__
