"""``results/bentos.json``: the Bentos the build stage made."""

from __future__ import annotations

from stages.records.base import RecordFile, Result


class BuiltService(Result):
    bento: str
    model: str
    variant: str
    batching: dict[str, bool | int | float | None]
    workers: int
    threads: int


class Bentos(RecordFile):
    bentoml_home: str
    cuda: bool
    standin: bool
    services: dict[str, BuiltService]
