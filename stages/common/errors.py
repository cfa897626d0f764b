"""The one exception family that stages report as a plain message instead of a traceback."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class ServebenchError(Exception):
    """A problem the user can fix (bad params, missing input, failed gate); its message says how."""


def present(value: T | None, what: str) -> T:
    """``value``, which the caller's order of calls guarantees is set; a clear error, not an ``assert`` that
    ``python -O`` strips, when a change to that order breaks the guarantee."""
    if value is None:
        raise RuntimeError(f"{what} is not set yet: a call out of order")
    return value
