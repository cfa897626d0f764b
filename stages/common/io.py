"""One writer and one validating reader for every JSON result file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from stages.common.errors import ServebenchError

M = TypeVar("M", bound=BaseModel)


class ResultFileError(ServebenchError):
    """A results file is missing or does not have the shape its reader expects."""


def write_result(path: Path, result: BaseModel, exclude_none: bool = False) -> None:
    """Write a record as indented JSON, creating folders; ``exclude_none`` leaves out what the record lacks (a
    DVC metrics file with only the keys that apply)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.model_dump(mode="json", exclude_none=exclude_none), indent=2) + "\n")


def read_result(path: Path, model: type[M]) -> M:
    """Read ``path`` as ``model``; a missing file or a missing, renamed or mistyped key names the file and key."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file; run the stage that writes it first (dvc repro)") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path}: not valid JSON: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}"
                    for error in exc.errors()]
        raise ResultFileError(f"{path}: does not match {model.__name__}: " + "; ".join(problems[:5])) from None


def read_optional_result(path: Path, model: type[M]) -> M | None:
    """:func:`read_result` of a file an optional stage writes; None when that stage has not run."""
    return read_result(path, model) if path.is_file() else None
