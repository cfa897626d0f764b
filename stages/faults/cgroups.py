"""Resource limits on the processes a stage started, through a cgroup of their own: what a pod's ``limits`` do when
they are set too low (the CFS quota Kubernetes writes for ``limits.cpu``, the memory limit for ``limits.memory``).

The cgroup is created for one fault, holds only the server's processes, and is removed when the fault ends: the
processes go back to the cgroups they came from (workers born inside it meanwhile go to the server's). cgroup v2
(``cpu.max``, ``memory.max``) and v1 (``cpu.cfs_quota_us``, ``memory.limit_in_bytes``) are both handled; without a
writable controller (no root, a read-only /sys/fs/cgroup) the fault is not available and the stage says why.

Memory is charged to the cgroup a page was first allocated in, and neither version moves those charges with a
process (v1's ``move_charge_at_immigrate`` is deprecated and refused by recent kernels): a limit here caps what the
processes allocate while they are inside, which is what a worker's new allocations under load, or a respawned
worker loading its model, meet in a pod whose limit is below its working set.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000  # the kernel's default CFS period, as Kubernetes uses
# (v2 file, v1 file, v2 "no limit", v1 "no limit") per controller
LIMIT_FILES = {"cpu": ("cpu.max", "cpu.cfs_quota_us", "max", "-1"),
               "memory": ("memory.max", "memory.limit_in_bytes", "max", "-1")}


@dataclass(frozen=True)
class Controller:
    """Where one controller (``cpu`` or ``memory``) lives, and how its limit is written."""

    name: str
    root: Path
    version: int

    def set_limit(self, group: Path, value: int | None) -> None:
        """A CPU quota in µs per :data:`PERIOD_US`, or a memory limit in bytes; None lifts it."""
        v2_file, v1_file, v2_none, v1_none = LIMIT_FILES[self.name]
        if self.version == 2:
            text = v2_none if value is None else str(value)
            (group / v2_file).write_text(f"{text} {PERIOD_US}" if self.name == "cpu" else text)
            return
        if self.name == "cpu":
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / v1_file).write_text(v1_none if value is None else str(value))

    def cgroup_of(self, pid: int) -> Path:
        """The process's cgroup in this hierarchy (from /proc/<pid>/cgroup)."""
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if (self.version == 2 and controllers == "") or self.name in controllers.split(","):
                return self.root / path.lstrip("/")
        return self.root

    def parent(self) -> Path:
        """Where a fault's cgroup is made: beside this process's own in v1, so that it stays inside any limit this
        process lives under (a container's); under the root in v2, whose inner cgroups may not hold both processes
        and children with controllers."""
        return self.root if self.version == 2 else self.cgroup_of(os.getpid())

    def oom_kills(self, group: Path) -> int | None:
        """How many processes the kernel OOM-killed in ``group`` (memory only; None where the kernel does not say)."""
        events = group / ("memory.events" if self.version == 2 else "memory.oom_control")
        with contextlib.suppress(OSError, ValueError):
            counts = dict(line.split() for line in events.read_text().splitlines() if line.strip())
            return int(counts["oom_kill"]) if "oom_kill" in counts else None
        return None


def controller(name: str) -> Controller | str:
    """The writable controller ``name`` (``cpu`` or ``memory``), or why there is none."""
    _, v1_file, _, _ = LIMIT_FILES[name]
    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        if name not in (CGROUP_ROOT / "cgroup.controllers").read_text().split():
            return f"cgroup v2 without the {name} controller"
        found = Controller(name, CGROUP_ROOT, 2)
    elif (CGROUP_ROOT / name / v1_file).is_file():
        found = Controller(name, CGROUP_ROOT / name, 1)
    else:
        return f"no cgroup {name} controller under {CGROUP_ROOT}"
    if not os.access(found.parent(), os.W_OK):
        return f"{found.parent()} is not writable (cgroups need root or a delegated subtree)"
    return found


@contextlib.contextmanager
def confined(pids: list[int], name: str, limit: int, group_name: str) -> Iterator[tuple[Controller, Path]]:
    """Hold ``pids`` (server processes, the eldest first: its cgroup receives any born inside) under ``limit`` of
    controller ``name`` for the ``with`` block, in a cgroup ``group_name`` created for it
    (:meth:`Controller.parent`); afterwards every process still alive goes back to its own cgroup, and the cgroup
    is removed."""
    found = controller(name)
    if isinstance(found, str):
        raise OSError(f"a {name} limit is not available here: {found}")
    origins = {pid: found.cgroup_of(pid) for pid in pids}
    group = found.parent() / group_name
    group.mkdir()
    try:
        found.set_limit(group, limit)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                (group / "cgroup.procs").write_text(str(pid))
        yield found, group
    finally:
        found.set_limit(group, None)
        for pid, origin in origins.items():
            with contextlib.suppress(ProcessLookupError, FileNotFoundError, OSError):
                (origin / "cgroup.procs").write_text(str(pid))
        server_home = origins[pids[0]] if pids else found.parent()
        for child in (group / "cgroup.procs").read_text().split():  # workers born inside meanwhile
            with contextlib.suppress(ProcessLookupError, OSError):
                (server_home / "cgroup.procs").write_text(child)
        group.rmdir()
