"""SIGTERM and SIGINT as exceptions, so ``finally`` blocks undo what a stage changed outside this machine."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """SIGTERM (and SIGINT) end the stage through its ``finally`` blocks (exit status 128 + the signal); a SIGKILL
    cannot be caught, so what it leaves needs a journal or a label to find it by."""
    def stop(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
