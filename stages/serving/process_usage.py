"""What a served run cost the machine: CPU time of the server's process tree and its memory, read from ``/proc``
through psutil.

Linux charges a process only for the time it ran: what a hypervisor stole and what a noisy neighbour took are in
neither its user nor its system time. So CPU time per request measures the service, not the machine's day, and
it is what a bill is made of. The tree splits three ways: the model workers' main threads (BentoML's event loop,
which parses, validates, batches and answers every request), the workers' other threads (inference: ONNX
Runtime's or PyTorch's, and AnyIO's worker threads), and every other process of the tree (BentoML's supervisor).
Memory: the tree's resident set (RSS), and its proportional set (PSS: shared pages split among their users) where
the kernel gives it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psutil

from stages.records.load import ProcessCost


@dataclass(frozen=True)
class TreeReading:
    """Cumulative CPU seconds (event loop, inference, other) of every process of a server's tree, by pid, and
    the tree's memory now."""

    cpu_s: dict[int, tuple[float, float, float]]
    rss_bytes: int
    pss_bytes: int | None

    def minus(self, before: TreeReading) -> tuple[float, float, float]:
        """CPU seconds (loop, inference, other) spent between ``before`` and this reading, per process: one that
        started since counts from zero, one that ended since is left out (its last seconds are lost, rather than
        its whole life subtracted)."""
        spent = [0.0, 0.0, 0.0]
        for pid, now in self.cpu_s.items():
            then = before.cpu_s.get(pid, (0.0, 0.0, 0.0))
            for part in range(3):
                spent[part] += max(now[part] - then[part], 0.0)
        return spent[0], spent[1], spent[2]


def _pss(process: psutil.Process) -> int | None:
    with contextlib.suppress(psutil.AccessDenied, AttributeError, NotImplementedError):
        return int(process.memory_full_info().pss)
    return None


def read_tree(root_pid: int | None, workers: list[psutil.Process], with_pss: bool = False) -> TreeReading:
    """The tree under ``root_pid`` (itself included): ``workers`` split into their main thread and the rest.
    ``with_pss`` reads PSS too (it walks every mapping: a few ms per process, so not at every slot)."""
    if root_pid is None:
        return TreeReading({}, 0, None)
    worker_pids = {worker.pid for worker in workers}
    try:
        root = psutil.Process(root_pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return TreeReading({}, 0, None)
    cpu: dict[int, tuple[float, float, float]] = {}
    rss, pss = 0, 0 if with_pss else None
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            times = process.cpu_times()
            total = times.user + times.system
            if process.pid in worker_pids:
                main = sum(thread.user_time + thread.system_time for thread in process.threads()
                           if thread.id == process.pid)
                cpu[process.pid] = (main, max(total - main, 0.0), 0.0)
            else:
                cpu[process.pid] = (0.0, 0.0, total)
            rss += process.memory_info().rss
            if pss is not None:
                found = _pss(process)
                pss = None if found is None else pss + found
    return TreeReading(cpu, rss, pss)


def process_cost(cpu_s: tuple[float, float, float], requests: int, rss_bytes: list[int], pss_bytes: int | None,
                 generator_cpu_s: float | None) -> ProcessCost:
    """One run's (or one arm's slots') CPU per request by part, memory peak and median, the generator's CPU."""
    loop, inference, other = cpu_s

    def per(seconds: float | None) -> float | None:
        return 1e3 * seconds / requests if requests and seconds is not None else None

    ordered = sorted(rss_bytes)
    return ProcessCost(requests=requests, cpu_ms_per_request=per(loop + inference + other),
                       loop_ms_per_request=per(loop), inference_ms_per_request=per(inference),
                       other_ms_per_request=per(other), peak_rss_mb=ordered[-1] / 2**20 if ordered else None,
                       steady_rss_mb=ordered[len(ordered) // 2] / 2**20 if ordered else None,
                       pss_mb=pss_bytes / 2**20 if pss_bytes is not None else None,
                       generator_ms_per_request=per(generator_cpu_s))
