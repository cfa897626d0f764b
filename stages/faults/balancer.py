"""HAProxy in front of a service's replicas, for failover under live load: started on loopback by the stage,
stopped by its own PID, its view of every replica (UP, DOWN) polled and each change recorded with its time.

The configuration is what a production balancer in front of an inference service holds: active health checks of
``/readyz`` (``resilience.failover.check_interval_ms``, ``fall``, ``rise``), passive ones (a refused connection
takes a replica out at once: ``observe layer4``), retries to another replica (``retries``, ``retry_on``,
``option redispatch``) and a server timeout. Debian packages it (``apt-get install haproxy``); without it the
failover runs are skipped with that line.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from stages.common.errors import ServebenchError
from stages.common.net import free_port
from stages.params.resilience import FailoverParams

HAPROXY = "haproxy"
POLL_S = 0.1  # the replicas' state as the balancer sees it, this often
READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0
PASSIVE = "observe layer4 error-limit 1 on-error mark-down"  # a refused connection takes the replica out at once


def missing() -> str | None:
    """Why no balancer can run here, or None."""
    return None if shutil.which(HAPROXY) else "haproxy is not installed (Debian: apt-get install haproxy)"


def haproxy_config(port: int, stats_port: int, replicas: list[tuple[str, int]], settings: FailoverParams,
                   host: str = "127.0.0.1") -> str:
    """The balancer's configuration: a frontend on ``port``, the replicas in one backend, a CSV stats page on
    ``stats_port`` (what :class:`Balancer` polls)."""
    timeout_ms = round(settings.server_timeout_s * 1000)
    servers = "\n".join(f"    server replica-{index} {address}:{replica_port}"
                        for index, (address, replica_port) in enumerate(replicas))
    return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server {timeout_ms}ms
    timeout check {settings.check_interval_ms}ms
    retries {settings.retries}
    option redispatch 1
    retry-on {' '.join(settings.retry_on)}

frontend classify
    bind {host}:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter {settings.check_interval_ms} fall {settings.fall} rise {settings.rise} {PASSIVE}
{servers}

frontend stats
    bind {host}:{stats_port}
    stats enable
    stats uri /stats
"""


def replica_states(stats_csv: str) -> dict[str, str]:
    """``{replica: status}`` of the backend's servers in HAProxy's CSV stats (``UP``, ``DOWN``, ``UP 1/2``...)."""
    rows = csv.DictReader(io.StringIO(stats_csv.lstrip("# ")))
    return {row["svname"]: row["status"] for row in rows
            if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")}


class Balancer:
    """``with Balancer(replicas, settings, log) as balancer: requests to balancer.url``; ``balancer.changes``
    holds every change of a replica's state, stamped with the unix time it was seen."""

    def __init__(self, replicas: list[tuple[str, int]], settings: FailoverParams, log_path: Path,
                 host: str = "127.0.0.1") -> None:
        self.replicas, self.settings, self.log_path, self.host = replicas, settings, log_path, host
        self.port, self.stats_port = free_port(host), free_port(host)
        self.process: subprocess.Popen[bytes] | None = None
        self.changes: list[str] = []
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._folder = tempfile.TemporaryDirectory(prefix="servebench-haproxy-")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def states(self) -> dict[str, str]:
        with urllib.request.urlopen(f"http://{self.host}:{self.stats_port}/stats;csv", timeout=2) as response:
            return replica_states(response.read().decode())

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                states = self.states()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                continue
            for name, status in states.items():
                if self._seen.get(name) != status:
                    self._seen[name] = status
                    self.changes.append(f"{time.time():.3f} balancer: {name} {status}")

    def _wait_all_up(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise ServebenchError(f"haproxy exited at start; its log: {self.log_path}")
            try:
                states = self.states()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                states = {}
            if len(states) == len(self.replicas) and all(status == "UP" for status in states.values()):
                self._seen = states  # the changes recorded from here on
                return
            time.sleep(POLL_S)
        raise ServebenchError(f"haproxy did not see every replica UP within {READY_TIMEOUT_S:g} s: {states}")

    def __enter__(self) -> Balancer:
        config = Path(self._folder.name) / "haproxy.cfg"
        config.write_text(haproxy_config(self.port, self.stats_port, self.replicas, self.settings, self.host))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_all_up()
        except BaseException:
            self._shutdown()
            raise
        self._poller.start()
        return self

    def _shutdown(self) -> None:
        self._stop.set()
        if self._poller.is_alive():
            self._poller.join()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._folder.cleanup()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._shutdown()
