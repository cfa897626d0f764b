"""Start and stop ``bentoml serve`` as a child process that never outlives its caller.

Used by tests, the serving-limits benchmark and the load and fault stages. The server runs in its own process
group (BentoML forks workers), optionally pinned to CPU cores so it does not compete with the load generator,
with its log captured to a file. Stopping sends SIGTERM to the whole group, then SIGKILL to what is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import psutil

from stages.common.errors import ServebenchError, present
from stages.common.net import free_port
from stages.serving.bentos import bentoml_env

STOP_GRACE_S = 10.0
WORKER_SCRIPT = "_bentoml_impl.worker.service"  # what BentoML runs in each model worker process


class ServerStartError(ServebenchError):
    """The server exited or did not become ready in time; the message carries the end of its log."""


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class BentoServer:
    """``with BentoServer(tag, home, log) as server: requests to server.url``."""

    def __init__(
        self,
        target: str,
        bentoml_home: Path,
        log_path: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        cpu_affinity: list[int] | None = None,
        ready_timeout_s: float = 180.0,
        extra_env: dict[str, str] | None = None,
        launcher: Sequence[str] = (),
    ) -> None:
        self.target = target
        self.bentoml_home = bentoml_home
        self.log_path = log_path
        self.host = host
        self.port = port or free_port(host)
        self.cpu_affinity = cpu_affinity
        self.ready_timeout_s = ready_timeout_s
        self.extra_env = extra_env or {}
        self.launcher = list(launcher)  # a command that runs the server inside it (a sandbox: tests)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None
        self.ready_after_s: float | None = None  # cold start: `bentoml serve` launched -> first 200 of /readyz
        self.launched_unix: float | None = None  # the same two instants on the wall clock, to line up with the
        self.ready_unix: float | None = None  # worker's own log (stages/serving/startup.py)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = bentoml_env(self.bentoml_home) | self.extra_env
        command = [*self.launcher, sys.executable, "-m", "bentoml", "serve", self.target, "--host", self.host,
                   "--port", str(self.port)]
        affinity = self.cpu_affinity
        self.started_at, self.ready_after_s = time.monotonic(), None
        self.launched_unix, self.ready_unix = time.time(), None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: the workers BentoML forks die with it
                preexec_fn=(lambda: os.sched_setaffinity(0, affinity)) if affinity else None,
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise ServerStartError(f"{self.target} exited before it was ready:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        self.ready_after_s = time.monotonic() - (self.started_at or deadline)
                        self.ready_unix = time.time()
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise ServerStartError(f"{self.target} not ready after {self.ready_timeout_s:.0f} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        """The ``bentoml serve`` process's pid while it runs: the root of the server's process tree."""
        return self.process.pid if self.process is not None else None

    def descendants(self) -> list[psutil.Process]:
        """Every process the server started. BentoML's supervisor (circus) runs each worker in a session of its
        own, so the server's process group does not reach them."""
        if self.process is None:
            return []
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def workers(self) -> list[psutil.Process]:
        """The model worker processes: the descendants running BentoML's worker script (``WORKER_SCRIPT``)."""
        workers = []
        for child in self.descendants():
            with contextlib.suppress(psutil.NoSuchProcess):
                if any(WORKER_SCRIPT in part for part in child.cmdline()):
                    workers.append(child)
        return workers

    def signal_tree(self, sig: signal.Signals) -> list[int]:
        """Send ``sig`` to the server's process group and to every descendant; return the descendants' pids."""
        process = present(self.process, "the server process")
        pids = [child.pid for child in self.descendants()]
        os.killpg(process.pid, sig)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def stop(self) -> None:
        """SIGTERM the process group, wait for a graceful exit, then SIGKILL whatever is left, workers included."""
        if self.process is None:
            return
        pgid = self.process.pid
        children = self.descendants()
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while group_alive(pgid) and time.monotonic() < deadline:
                self.process.poll()
                time.sleep(0.1)
            if group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
        for child in children:  # workers in their own sessions, orphaned if the supervisor died first
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        self.process.wait()
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> BentoServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
