"""Is this machine quiet enough to time a served path? ``python -m stages.common.quiet [--wait]``.

A busy loop keeps its virtual CPU and reads a shared VM as quiet while a served request, which sleeps and wakes
across processes, waits for the host at every wake-up (measured 3 Dec: 2-9 % stolen from two busy loops, 42-45 %
from a ping-pong at the same minutes). So the probe is a ping-pong: a client and an echo process on
loopback exchange ``requests`` one-byte messages ``gap_s`` apart, the echo spending ``work_s`` of CPU on each, and
the probe reports the share of the CPU time asked for meanwhile that a hypervisor took (``/proc/stat``) with the
round trips' delay beyond that work. ``--wait`` blocks until two readings in a row are quiet: ``make
repro-offline-paced`` runs every timing stage after one, so a shared VM's noisy minutes do not become results.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import sys
import time
from dataclasses import dataclass

import numpy as np

from stages.common.cpu_steal import STARVED_SHARE, StealMeter


@dataclass(frozen=True)
class QuietReading:
    stolen: float | None  # share of the CPU time asked for during the probe that a hypervisor took
    extra_p50_ms: float  # round trip beyond the echo's own work, median and 99th percentile
    extra_p99_ms: float

    def quiet(self, max_stolen: float) -> bool:
        """Quiet when the hypervisor took at most ``max_stolen`` (where steal is not measured: always)."""
        return self.stolen is None or self.stolen <= max_stolen

    def line(self) -> str:
        stolen = "not measured" if self.stolen is None else f"{self.stolen:.0%} of the CPU stolen"
        return (f"quiet probe: round trip +{self.extra_p50_ms:.2f} ms p50, +{self.extra_p99_ms:.2f} ms p99 beyond "
                f"its work; {stolen}")


def _echo(listener: socket.socket, work_s: float) -> None:
    """Answer each byte after ``work_s`` of CPU, like a request handler; until the client hangs up."""
    connection, _ = listener.accept()
    with connection:
        while connection.recv(1):
            started = time.perf_counter()
            while time.perf_counter() - started < work_s:
                pass
            connection.sendall(b"x")


def ping_pong(requests: int = 300, gap_s: float = 0.02, work_s: float = 0.002) -> QuietReading:
    """One reading (~``requests * gap_s`` seconds): the served path's wake pattern, measured."""
    listener = socket.create_server(("127.0.0.1", 0))
    echo = multiprocessing.get_context("spawn").Process(target=_echo, args=(listener, work_s), daemon=True)
    echo.start()
    extra = np.empty(requests)
    try:
        with socket.create_connection(listener.getsockname()) as client, StealMeter() as meter:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for index in range(requests):
                started = time.perf_counter()
                client.sendall(b"x")
                client.recv(1)
                extra[index] = time.perf_counter() - started - work_s
                time.sleep(gap_s)
    finally:
        echo.join(timeout=5)
        listener.close()
    return QuietReading(meter.share, 1e3 * float(np.median(extra)), 1e3 * float(np.quantile(extra, 0.99)))


def wait_until_quiet(max_stolen: float, in_a_row: int = 2, pause_s: float = 60.0, timeout_s: float = 4 * 3600.0
                     ) -> QuietReading:
    """Probe until ``in_a_row`` readings are quiet, ``pause_s`` apart after a noisy one; one line per reading."""
    deadline, streak = time.monotonic() + timeout_s, 0
    while True:
        reading = ping_pong()
        streak = streak + 1 if reading.quiet(max_stolen) else 0
        print(f"{time.strftime('%H:%M:%S')} {reading.line()}{'' if streak else ', waiting'}", file=sys.stderr,
              flush=True)
        if streak >= in_a_row:
            return reading
        if time.monotonic() > deadline:
            raise SystemExit(f"quiet: the machine stayed noisy for {timeout_s / 60:.0f} min (more than "
                             f"{max_stolen:.0%} of the CPU stolen)")
        if not streak:
            time.sleep(pause_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait", action="store_true", help="block until the machine is quiet")
    parser.add_argument("--max-stolen", type=float, default=STARVED_SHARE, help="quiet: at most this share stolen")
    parser.add_argument("--timeout-min", type=float, default=240.0, help="with --wait: give up after this long")
    args = parser.parse_args(argv)
    if args.wait:
        wait_until_quiet(args.max_stolen, timeout_s=60 * args.timeout_min)
        return
    reading = ping_pong()
    print(reading.line())
    sys.exit(0 if reading.quiet(args.max_stolen) else 1)


if __name__ == "__main__":
    main()
