"""A machine probe the measured arms cannot influence: steal and wake-up delay, read per slot, run or step.

``python -m stages.common.probe --minutes 10`` watches the machine alone and says how long its noise stays
correlated: the lag at which the autocorrelation of the per-window stolen share (and wake-up delay) falls below
1/e. A switchback pair of slots must fit well inside it (``loadtest.switchback.slot_s``).

A served arm's own ``cpu_stolen`` (``/proc/stat`` over the run) is a share of the CPU time the machine asked for,
and the arm asks for most of it: the share grows with the arm's demand, so the slower arm reads as more robbed
(design.md, traps). The probe asks for the same small amount whatever runs beside it: two processes ping-pong
one message every ``gap_s``, the echo spending ``work_s`` busy on each (~1 % of a core at the defaults). For each
message the echo reports how much of its busy wall time was neither its own CPU time nor waiting for a guest CPU
(``/proc/self/schedstat``): the time the hypervisor took from it. The client records that with the round trip
beyond the work (how late a sleeping process wakes): :meth:`MachineProbe.window` summarises any span.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from stages.records.machine import MachineState

SCHEDSTAT = Path("/proc/self/schedstat")
REPLY = struct.Struct("<ddd")  # the echo's busy wall time, its CPU time, its run-queue wait (s)
STOP_JOIN_S = 5.0


def _run_delay_s() -> float:
    """This process's time spent runnable but waiting for a CPU of the guest (0 where schedstat is missing)."""
    try:
        return int(SCHEDSTAT.read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _echo(listener: socket.socket, work_s: float) -> None:
    """Answer each byte after ``work_s`` of busy wall time, with how that time was spent."""
    connection, _ = listener.accept()
    with connection:
        while connection.recv(1):
            wall, cpu, delay = time.perf_counter(), time.thread_time(), _run_delay_s()
            while time.perf_counter() - wall < work_s:
                pass
            connection.sendall(REPLY.pack(time.perf_counter() - wall, time.thread_time() - cpu,
                                          _run_delay_s() - delay))


def _client(address: tuple[str, int], gap_s: float, work_s: float, log: str) -> None:
    """Ping every ``gap_s`` until the parent stops it; one line per answer: unix time, wake delay (s), the
    echo's busy wall, CPU and run-queue wait (s)."""
    with socket.create_connection(address) as client, open(log, "a", buffering=1) as out:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            started = time.perf_counter()
            client.sendall(b"x")
            reply = b""
            while len(reply) < REPLY.size:
                chunk = client.recv(REPLY.size - len(reply))
                if not chunk:
                    return
                reply += chunk
            wall, cpu, delay = REPLY.unpack(reply)
            out.write(f"{time.time():.6f} {time.perf_counter() - started - wall:.6f} {wall:.6f} {cpu:.6f} "
                      f"{delay:.6f}\n")
            time.sleep(gap_s)


@dataclass(frozen=True)
class ProbeSettings:
    gap_s: float = 0.1
    work_s: float = 0.001


class MachineProbe:
    """``with MachineProbe() as probe: ...; probe.window(start, end)`` (unix times)."""

    def __init__(self, settings: ProbeSettings = ProbeSettings()) -> None:
        self.settings = settings
        self._folder = tempfile.TemporaryDirectory(prefix="servebench-probe-")
        self.log = Path(self._folder.name) / "probe.log"
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._listener: socket.socket | None = None

    def __enter__(self) -> MachineProbe:
        context = multiprocessing.get_context("spawn")
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.log.touch()
        self._processes = [
            context.Process(target=_echo, args=(self._listener, self.settings.work_s), daemon=True),
            context.Process(target=_client, args=(self._listener.getsockname(), self.settings.gap_s,
                                                  self.settings.work_s, str(self.log)), daemon=True)]
        for process in self._processes:
            process.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for process in reversed(self._processes):  # the client first: the echo then sees the hang-up
            process.terminate()
            process.join(timeout=STOP_JOIN_S)
        if self._listener is not None:
            self._listener.close()
        self._folder.cleanup()

    def readings(self) -> np.ndarray:
        """Every answer so far: columns unix time, wake delay, busy wall, CPU, run-queue wait (s)."""
        text = self.log.read_text()
        lines = [line for line in text.splitlines() if line.count(" ") == 4]  # the last line may be partial
        return np.array([[float(value) for value in line.split()] for line in lines]).reshape(-1, 5)

    def window(self, start: float, end: float, machine_stolen: float | None = None) -> MachineState:
        """The probe's answers between two unix times: its stolen share and wake-up delay; ``machine_stolen``
        (``/proc/stat`` over the same span, demand-weighted) is kept beside it."""
        return machine_state(self.readings(), start, end, machine_stolen)


def machine_state(readings: np.ndarray, start: float, end: float, machine_stolen: float | None = None
                  ) -> MachineState:
    """Summarise probe readings (rows of :meth:`MachineProbe.readings`) that fall in ``[start, end]``."""
    inside = readings[(readings[:, 0] >= start) & (readings[:, 0] <= end)]
    if not len(inside):
        return MachineState(readings=0, machine_stolen=machine_stolen)
    wall = inside[:, 2].sum()
    stolen = float(np.clip((wall - inside[:, 3].sum() - inside[:, 4].sum()) / wall, 0.0, 1.0)) if wall > 0 else None
    wake = inside[:, 1] * 1e3
    return MachineState(readings=len(inside), probe_stolen=stolen, wake_p50_ms=float(np.median(wake)),
                        wake_p99_ms=float(np.quantile(wake, 0.99)), machine_stolen=machine_stolen)


def correlation_time(series: np.ndarray, window_s: float) -> float | None:
    """Seconds until the series' autocorrelation first falls below 1/e; None for a constant or short series."""
    values = series[np.isfinite(series)] - np.nanmean(series)
    if len(values) < 4 or not values.any():
        return None
    acf = np.correlate(values, values, "full")[len(values) - 1:] / (values @ values)
    below = np.flatnonzero(acf < np.exp(-1))
    return float(below[0] * window_s) if len(below) else None


def per_window(readings: np.ndarray, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Stolen share and wake-up p99 (ms) of the probe in consecutive windows of ``window_s``."""
    edges = np.arange(readings[0, 0], readings[-1, 0] + window_s, window_s)
    states = [machine_state(readings, start, start + window_s) for start in edges[:-1]]
    return (np.array([np.nan if s.probe_stolen is None else s.probe_stolen for s in states]),
            np.array([np.nan if s.wake_p99_ms is None else s.wake_p99_ms for s in states]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--window-s", type=float, default=2.0, help="the series' resolution")
    args = parser.parse_args(argv)
    with MachineProbe() as probe:
        time.sleep(60 * args.minutes)
        readings = probe.readings()
    stolen, wake = per_window(readings, args.window_s)
    for name, series, unit in (("stolen share", stolen, ""), ("wake-up p99", wake, " ms")):
        tau = correlation_time(series, args.window_s)
        print(f"probe: {name} median {np.nanmedian(series):.3g}{unit} (range {np.nanmin(series):.3g}-"
              f"{np.nanmax(series):.3g}) over {len(series)} windows of {args.window_s:g} s; correlated for "
              + ("less than a window" if tau == 0 else "the whole span or not at all" if tau is None
                 else f"~{tau:g} s"))


if __name__ == "__main__":
    main()
