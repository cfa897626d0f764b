"""Entry-point helpers shared by the stage modules: one argument parser set-up, one error exit."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from stages.common.artifacts import PARAMS_FILE
from stages.common.errors import ServebenchError


def stage_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first line of the stage's docstring, with ``--params``."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("--params", type=Path, default=PARAMS_FILE)
    return parser


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a :class:`ServebenchError` ends it with its message and exit status 1."""
    try:
        main()
    except ServebenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(1)
