"""Faults on processes this stage started, and nothing else: the server's process group and its workers.

Kill a worker or the server, stop-start, freeze, throttle the CPU, add a co-tenant, cap memory, or delay, lose or
cut the traffic through a TCP proxy; each fault's semantics are in docs/serving.md ("Faults and Kubernetes").
BentoML's supervisor (circus) starts each worker in a session of its own, so signals go to the server's process
group and to each of its descendants (:meth:`BentoServer.signal_tree`).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stages.common.errors import ServebenchError, present
from stages.common.neighbour import NoisyNeighbour
from stages.faults.cgroups import PERIOD_US, confined, controller
from stages.faults.proxy import FaultyProxy
from stages.params.machine import NeighbourParams
from stages.params.resilience import ResilienceParams
from stages.serving.server import BentoServer

NETWORK_FAULTS = ("network-delay", "packet-loss", "partition")  # sent through a FaultyProxy


@dataclass
class FaultLog:
    """When the fault began and ended (unix time), and what it did; filled in by the injector."""

    started: float | None = None
    ended: float | None = None
    actions: list[str] = field(default_factory=list)
    aborted: threading.Event = field(default_factory=threading.Event)  # the run was stopped (SIGTERM, an error)

    def note(self, action: str) -> None:
        self.actions.append(f"{time.time():.3f} {action}")

    def hold(self, seconds: float) -> bool:
        """Keep the fault on for ``seconds``, or until the run is stopped (True): a stopped run lifts its fault
        through the fault's own ``finally`` instead of leaving a frozen server or a cgroup behind."""
        return self.aborted.wait(seconds)


@dataclass(frozen=True)
class Target:
    """What a fault may touch: the server this stage started, and the proxy in front of it (network faults)."""

    server: BentoServer
    proxy: FaultyProxy | None = None


def worker_pids(server: BentoServer) -> list[int]:
    return [worker.pid for worker in server.workers()]


def kill_worker(target: Target, log: FaultLog, _: ResilienceParams) -> None:
    """SIGKILL one model worker (the oldest): with one worker a full outage, with more a partial one."""
    pids = worker_pids(target.server)
    if not pids:
        raise ServebenchError("kill-worker: the server has no BentoML worker process to kill")
    os.kill(pids[0], signal.SIGKILL)
    log.note(f"SIGKILL worker {pids[0]} of {len(pids)}")


def kill_server(target: Target, log: FaultLog, settings: ResilienceParams) -> None:
    server = target.server
    process = present(server.process, "the server process")
    pids = server.signal_tree(signal.SIGKILL)
    process.wait()
    log.note(f"SIGKILL server {process.pid} and its processes {pids}")
    if log.hold(settings.restart_delay_s):
        return
    server.start()
    log.note(f"supervisor restarted the server (pid {present(server.process, 'the restarted server').pid})")


def stop_start(target: Target, log: FaultLog, settings: ResilienceParams) -> None:
    server = target.server
    server.stop()
    log.note("SIGTERM, graceful exit")
    if log.hold(settings.restart_delay_s):
        return
    server.start()
    log.note(f"started again (pid {server.process.pid if server.process else None})")


def freeze(target: Target, log: FaultLog, settings: ResilienceParams) -> None:
    server = target.server
    process = present(server.process, "the server process")
    pids = server.signal_tree(signal.SIGSTOP)
    log.note(f"SIGSTOP server {process.pid} and its processes {pids}")
    try:
        log.hold(settings.freeze_s)
    finally:
        server.signal_tree(signal.SIGCONT)
        log.note("SIGCONT")


def server_pids(server: BentoServer) -> list[int]:
    """The server's main process first, then every descendant."""
    return [present(server.process, "the server process").pid, *(child.pid for child in server.descendants())]


def cpu_throttle(target: Target, log: FaultLog, settings: ResilienceParams) -> None:
    server = target.server
    pids = server_pids(server)
    quota = max(int(settings.throttle_cpus * PERIOD_US), 1000)
    with confined(pids, "cpu", quota, f"servebench-throttle-{os.getpid()}-{server.port}") as (_, group):
        log.note(f"{len(pids)} server processes under a quota of {settings.throttle_cpus:g} cores ({group})")
        log.hold(settings.throttle_s)
        stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
    log.note(f"quota lifted after {stat.get('nr_throttled', '?')} throttled periods of {stat.get('nr_periods', '?')}; "
             "processes back in their cgroups")


def cpu_stress(target: Target, log: FaultLog, settings: ResilienceParams) -> None:
    """A co-tenant competing for the cores (the noisy neighbour of the switchback experiment, busy throughout):
    unlike cpu-throttle's quota, the server keeps its share of a machine that has less to give."""
    stress = NeighbourParams(enabled=True, hogs=settings.stress_hogs, duty=1.0,
                             phase_s=[settings.stress_s, settings.stress_s], seed=settings.seed)
    with NoisyNeighbour(stress):
        log.note(f"{settings.stress_hogs} CPU hogs busy beside the server")
        log.hold(settings.stress_s)
    log.note("CPU hogs stopped")


def memory_limit(target: Target, log: FaultLog, settings: ResilienceParams) -> None:
    """The model workers (not their supervisor: the kernel would kill it too once the workers are gone, and no
    one would respawn them) in a memory cgroup allowing ``memory_limit_kib`` of new allocations."""
    server = target.server
    pids = worker_pids(server)
    if not pids:
        raise ServebenchError("memory-limit: the server has no BentoML worker process to limit")
    limit = settings.memory_limit_kib * 1024
    with confined(pids, "memory", limit, f"servebench-memory-{os.getpid()}-{server.port}") as (found, group):
        log.note(f"{len(pids)} worker(s) allowed {settings.memory_limit_kib} KiB of new allocations ({group})")
        log.hold(settings.memory_s)
        kills = found.oom_kills(group)
    log.note(f"limit lifted after {'an unknown number of' if kills is None else kills} OOM kills; workers still "
             "alive back in their cgroups")


def network_delay(target: Target, log: FaultLog, settings: ResilienceParams) -> None:
    with present(target.proxy, "the FaultyProxy network faults go through").delayed(settings.delay_ms / 1000):
        log.note(f"{settings.delay_ms:g} ms added to every chunk both ways")
        log.hold(settings.network_s)
    log.note("delay lifted")


def packet_loss(target: Target, log: FaultLog, settings: ResilienceParams) -> None:
    proxy = present(target.proxy, "the FaultyProxy network faults go through")
    with proxy.lossy(settings.loss_share, settings.retransmit_ms / 1000, seed=settings.seed):
        log.note(f"{settings.loss_share:.0%} of chunks lost per try, resent after {settings.retransmit_ms:g} ms "
                 "(doubling)")
        log.hold(settings.network_s)
    log.note("loss lifted")


def partition(target: Target, log: FaultLog, settings: ResilienceParams) -> None:
    with present(target.proxy, "the FaultyProxy network faults go through").partitioned():
        log.note("partition: nothing crosses between generator and server")
        log.hold(settings.network_s)
    log.note("partition healed: held data and connections go through")


LOCAL_FAULTS: dict[str, Callable[[Target, FaultLog, ResilienceParams], None]] = {
    "kill-worker": kill_worker, "kill-server": kill_server, "stop-start": stop_start, "freeze": freeze,
    "cpu-throttle": cpu_throttle, "cpu-stress": cpu_stress, "memory-limit": memory_limit,
    "network-delay": network_delay, "packet-loss": packet_loss, "partition": partition,
}
CGROUP_FAULTS = {"cpu-throttle": "cpu", "memory-limit": "memory"}


def unavailable(name: str) -> str | None:
    """Why fault ``name`` cannot run on this machine (kernel, privileges), or None."""
    if name in CGROUP_FAULTS:
        found = controller(CGROUP_FAULTS[name])
        return found if isinstance(found, str) else None
    return None


def inject(name: str, target: Target, settings: ResilienceParams, log: FaultLog) -> None:
    """Run fault ``name`` against ``target``, recording its start and end in ``log``."""
    log.started = time.time()
    try:
        LOCAL_FAULTS[name](target, log, settings)
    finally:
        log.ended = time.time()
