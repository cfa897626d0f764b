"""Entry-point helpers shared by the stage modules: one argument parser set-up, one error exit."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from stages.common.artifacts import PARAMS_FILE
from stages.common.errors import ServebenchError
from stages.params.base import ParamsError


def stage_parser(doc: str | None, **paths: Path) -> argparse.ArgumentParser:
    """An argument parser described by the first line of the stage's docstring, with ``--params`` and one
    ``--<name>`` path option per keyword (underscores become dashes), defaulting to the artifact path given."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--params", type=Path, default=PARAMS_FILE)
    for name, default in paths.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=Path, default=default)
    return parser


def configure_logging() -> None:
    """How a command shows what the libraries log (``logging.getLogger(__name__)``; they never print): one line
    per message on stderr, as the stages have always shown their progress, beside the stage's own summary."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr, force=True)


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a :class:`ServebenchError` or a params file it cannot run with ends it with its
    message and exit status 1."""
    configure_logging()
    try:
        main()
    except (ServebenchError, ParamsError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(1)
