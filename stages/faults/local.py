"""Faults on processes this stage started, and nothing else: the server's process group and its workers.

- ``kill-worker``: SIGKILL of BentoML's model worker process(es); BentoML's own supervisor respawns them.
- ``kill-server``: SIGKILL of every server process; a local supervisor restarts it after ``restart_delay_s``, as
  Kubernetes' ``restartPolicy: Always`` restarts a crashed container.
- ``restart``: SIGTERM, wait for a graceful exit, start again: what a rollout restart does to one replica.
- ``stall``: SIGSTOP of every server process, SIGCONT after ``stall_s``: a node under memory pressure.

BentoML's supervisor (circus) starts each worker in a session of its own, so signals go to the server's
process group and to each of its descendants (:meth:`BentoServer.signal_tree`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stages.common.errors import ServebenchError
from stages.serving.server import BentoServer


@dataclass
class FaultLog:
    """When the fault began and ended (unix time), and what it did; filled in by the injector."""

    started: float | None = None
    ended: float | None = None
    actions: list[str] = field(default_factory=list)

    def note(self, action: str) -> None:
        self.actions.append(f"{time.time():.3f} {action}")


def worker_pids(server: BentoServer) -> list[int]:
    return [worker.pid for worker in server.workers()]


def kill_worker(server: BentoServer, log: FaultLog, _: float, __: float) -> None:
    """SIGKILL one model worker (the oldest): with one worker a full outage, with more a partial one."""
    pids = worker_pids(server)
    if not pids:
        raise ServebenchError("kill-worker: the server has no BentoML worker process to kill")
    os.kill(pids[0], signal.SIGKILL)
    log.note(f"SIGKILL worker {pids[0]} of {len(pids)}")


def kill_server(server: BentoServer, log: FaultLog, restart_delay_s: float, _: float) -> None:
    assert server.process is not None
    pids = server.signal_tree(signal.SIGKILL)
    server.process.wait()
    log.note(f"SIGKILL server {server.process.pid} and its processes {pids}")
    time.sleep(restart_delay_s)
    server.start()
    log.note(f"supervisor restarted the server (pid {server.process.pid})")


def restart(server: BentoServer, log: FaultLog, restart_delay_s: float, _: float) -> None:
    server.stop()
    log.note("SIGTERM, graceful exit")
    time.sleep(restart_delay_s)
    server.start()
    log.note(f"started again (pid {server.process.pid if server.process else None})")


def stall(server: BentoServer, log: FaultLog, _: float, stall_s: float) -> None:
    assert server.process is not None
    pids = server.signal_tree(signal.SIGSTOP)
    log.note(f"SIGSTOP server {server.process.pid} and its processes {pids}")
    time.sleep(stall_s)
    server.signal_tree(signal.SIGCONT)
    log.note("SIGCONT")


LOCAL_FAULTS: dict[str, Callable[[BentoServer, FaultLog, float, float], None]] = {
    "kill-worker": kill_worker, "kill-server": kill_server, "restart": restart, "stall": stall,
}


def inject(name: str, server: BentoServer, log: FaultLog, restart_delay_s: float, stall_s: float) -> None:
    """Run fault ``name`` against ``server``, recording its start and end in ``log``."""
    log.started = time.time()
    try:
        LOCAL_FAULTS[name](server, log, restart_delay_s, stall_s)
    finally:
        log.ended = time.time()
