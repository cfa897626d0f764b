"""CPU throttling of the processes a stage started, through a cgroup of their own: what a pod's CPU limit does
when the node is short of CPU or the limit is set too low (the CFS quota Kubernetes writes for ``limits.cpu``).

The cgroup is created for one fault, holds only the server's processes, and is removed when the fault ends:
the processes go back to the cgroups they came from. cgroup v2 (``cpu.max``) and v1 (``cpu.cfs_quota_us``)
are both handled; without a writable cpu controller (no root, a read-only /sys/fs/cgroup) the fault is not
available and the stage says why.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000  # the kernel's default CFS period, as Kubernetes uses


@dataclass(frozen=True)
class CpuController:
    """Where the cpu controller lives and how a quota is written there."""

    root: Path
    version: int

    def set_quota(self, group: Path, cpus: float | None) -> None:
        quota = None if cpus is None else max(int(cpus * PERIOD_US), 1000)
        if self.version == 2:
            (group / "cpu.max").write_text(f"{'max' if quota is None else quota} {PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(-1 if quota is None else quota))

    def cgroup_of(self, pid: int) -> Path:
        """The process's cgroup in this hierarchy (from /proc/<pid>/cgroup)."""
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if (self.version == 2 and controllers == "") or "cpu" in controllers.split(","):
                return self.root / path.lstrip("/")
        return self.root


def cpu_controller() -> CpuController | str:
    """The writable cpu controller, or why there is none."""
    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        if "cpu" not in (CGROUP_ROOT / "cgroup.controllers").read_text().split():
            return "cgroup v2 without the cpu controller"
        controller = CpuController(CGROUP_ROOT, 2)
    elif (CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").is_file():
        controller = CpuController(CGROUP_ROOT / "cpu", 1)
    else:
        return f"no cgroup cpu controller under {CGROUP_ROOT}"
    if not os.access(controller.root, os.W_OK):
        return f"{controller.root} is not writable (cgroups need root or a delegated subtree)"
    return controller


@contextlib.contextmanager
def throttled(pids: list[int], cpus: float, name: str) -> Iterator[Path]:
    """Hold ``pids`` under a quota of ``cpus`` cores for the ``with`` block, in a cgroup ``name`` created for it;
    afterwards every process still alive goes back to its own cgroup and the cgroup is removed."""
    controller = cpu_controller()
    if isinstance(controller, str):
        raise OSError(f"cpu-throttle is not available here: {controller}")
    group = controller.root / name
    group.mkdir()
    origins = {pid: controller.cgroup_of(pid) for pid in pids}
    try:
        controller.set_quota(group, cpus)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                (group / "cgroup.procs").write_text(str(pid))
        yield group
    finally:
        controller.set_quota(group, None)
        for pid, origin in origins.items():
            with contextlib.suppress(ProcessLookupError, FileNotFoundError, OSError):
                (origin / "cgroup.procs").write_text(str(pid))
        for pid in (group / "cgroup.procs").read_text().split():  # children forked meanwhile
            with contextlib.suppress(ProcessLookupError, OSError):
                (controller.root / "cgroup.procs").write_text(pid)
        group.rmdir()
