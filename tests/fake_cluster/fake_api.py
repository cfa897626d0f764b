"""What the fake kubectl's two halves share: one call's arguments, and the cluster's state and call log on disk
($FAKE_CLUSTER_DIR: ``state.json``, written by the test first; ``calls.jsonl``, one JSON list per call)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The flags that take a value: their value is never a positional word.
VALUED = {"--context", "--namespace", "-o", "-l", "-p", "--type", "-f", "--field-selector", "--raw"}


@dataclass(frozen=True)
class Call:
    """One invocation's arguments, as kubectl reads them."""

    args: list[str]

    def option(self, name: str) -> str | None:
        return self.args[self.args.index(name) + 1] if name in self.args else None

    def prefixed(self, prefix: str) -> str:
        """The value of a ``--name=value`` flag."""
        return next(word[len(prefix):] for word in self.args if word.startswith(prefix))

    @property
    def words(self) -> list[str]:
        """The positional words (verb, resource, name), skipping flags and the values of VALUED ones."""
        found, skip = [], False
        for word in self.args:
            if not skip and not word.startswith("-"):
                found.append(word)
            skip = word in VALUED
        return found


class Cluster:
    """The state one test's cluster is in; every process of the test reads and writes the same file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state: dict[str, Any] = json.loads((root / "state.json").read_text())

    @classmethod
    def from_environment(cls) -> Cluster:
        return cls(Path(os.environ["FAKE_CLUSTER_DIR"]))

    def record(self, argv: list[str]) -> None:
        with (self.root / "calls.jsonl").open("a") as log:
            log.write(json.dumps(argv) + "\n")

    def save(self) -> None:
        """Atomically: a test reading the state meanwhile sees the old file or the new one, never half of one."""
        partial = self.root / f"state.json.{os.getpid()}"
        partial.write_text(json.dumps(self.state))
        os.replace(partial, self.root / "state.json")
