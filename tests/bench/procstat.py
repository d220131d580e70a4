"""CPU time and memory of a process, read from Linux ``/proc``.

A process's CPU is ``utime + stime`` of ``/proc/<pid>/stat`` (fields 14 and 15): every thread of
the process, live or exited, in clock ticks (``SC_CLK_TCK``, 100 per second on Linux),
so a figure is accurate to 10 ms. The benchmark only divides deltas taken over
seconds of load, where that is well under 1 %.

A CPU's load from everything on it (:func:`cpu_usage`, from ``/proc/stat``) shows how
much *other* work shared the proxy's CPU during a run: on a shared machine that is
the first thing to look at when a figure is off.

Memory is ``VmRSS`` (resident now) and ``VmHWM`` (the peak resident size since the
process started) of ``/proc/<pid>/status``, in KiB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Memory", "children", "cpu_seconds", "cpu_usage", "memory"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds the process has used so far."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may contain spaces; the fields
    # after the last ")" start with field 3 (state).
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def cpu_usage(cpu: int) -> tuple[float, float]:
    """Busy and total seconds of one CPU since boot (``/proc/stat``), all processes together.

    Busy is everything but idle and iowait; ``steal`` (time the hypervisor gave to
    other guests) counts as busy, since this machine could not use it either.
    """
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            ticks = [int(v) for v in line.split()[1:9]]
            idle = ticks[3] + ticks[4]
            return (sum(ticks) - idle) / _TICKS, sum(ticks) / _TICKS
    raise ValueError(f"no cpu{cpu} in /proc/stat")


@dataclass(frozen=True, slots=True)
class Memory:
    """Resident memory of a process, in KiB."""

    rss_kib: int
    hwm_kib: int

    @property
    def rss_mib(self) -> float:
        return self.rss_kib / 1024

    @property
    def hwm_mib(self) -> float:
        return self.hwm_kib / 1024


def memory(pid: int) -> Memory:
    """``VmRSS`` and ``VmHWM`` of the process."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return Memory(values["VmRSS"], values["VmHWM"])


def children(pid: int) -> list[int]:
    """Direct child processes (nginx's workers under its master)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []
