"""Entry-point wrapper shared by the stage modules."""

from __future__ import annotations

import sys
from collections.abc import Callable

from stages.errors import ServebenchError


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a :class:`ServebenchError` ends it with its message and exit status 1."""
    try:
        main()
    except ServebenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(1)
