"""The tiny stand-in's Bentos served by ``bentoml serve`` on loopback: one server per test, or one per service
shared by the tests that only talk to it (the ``servers`` fixture in conftest.py)."""

from __future__ import annotations

import re
import time
from typing import Any

from stages.serving.server import BentoServer


def serve(built: dict[str, Any], name: str, log: str | None = None) -> BentoServer:
    return BentoServer(built["bentos"]["services"][name]["bento"], built["home"],
                       built["root"] / (log or f"{name}.log"), ready_timeout_s=120)


class SharedServers:
    """One running server per service for the tests that only talk to it (a start costs 10-15 s on a 2-core VM):
    each test reads the log from its own mark. The tests that watch a server start, fail or stop start their own."""

    def __init__(self, built: dict[str, Any]) -> None:
        self.built = built
        self.running: dict[str, BentoServer] = {}

    def __getitem__(self, name: str) -> BentoServer:
        if name not in self.running:
            self.running[name] = serve(self.built, name, f"shared-{name}.log").__enter__()
        server = self.running[name]
        assert server.process is not None and server.process.poll() is None, f"the shared {name} server is down"
        return server

    def close(self) -> None:
        for server in self.running.values():
            server.__exit__(None, None, None)


def log_since(server: BentoServer, mark: int, pattern: str, at_least: int = 1, timeout_s: float = 20.0) -> str:
    """What the server logged after ``mark`` (a byte offset taken with ``log_mark``), once ``pattern`` appears
    ``at_least`` times in it or ``timeout_s`` passes: a live server's workers write their lines a moment late."""
    deadline = time.monotonic() + timeout_s
    while True:
        with server.log_path.open("rb") as log:
            log.seek(mark)
            text = log.read().decode(errors="replace")
        if len(re.findall(pattern, text)) >= at_least or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def log_mark(server: BentoServer) -> int:
    return server.log_path.stat().st_size
