"""CPU time the processes of a benchmark target spend over one load phase, read from /proc."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads), or None where /proc cannot say."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the command name may hold spaces and parentheses: the fields start after the last ")"
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    """Per named group of processes (``{"gateway": [pid], "shards": [pid, pid]}``), the CPU used
    between construction and ``result``: cores busy on average and microseconds per request.

    Divides by the phase's own elapsed time and answer count as the load generator measured them,
    so time spent starting the load generator is not counted as idle time. A group whose processes
    /proc cannot read (another OS, a remote Redis) is left out rather than reported as zero.
    """

    def __init__(self, groups: Mapping[str, Sequence[int]]) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self._start = {name: self._sum(pids) for name, pids in self.groups.items()}

    @staticmethod
    def _sum(pids: Sequence[int]) -> float | None:
        seconds = [cpu_seconds(p) for p in pids]
        return None if not seconds or None in seconds else sum(s for s in seconds if s is not None)

    def result(self, answered: int, elapsed_s: float) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for name, pids in self.groups.items():
            start, end = self._start[name], self._sum(pids)
            if start is None or end is None:
                continue
            out[name] = usage(end - start, answered, elapsed_s)
        return out


def usage(cpu_s: float, answered: int, elapsed_s: float) -> dict[str, float]:
    """``cpu_s`` of CPU over a phase as cores busy and microseconds per answered request."""
    return {
        "cores": round(cpu_s / elapsed_s, 3) if elapsed_s > 0 else 0.0,
        "us_per_request": round(cpu_s / answered * 1e6, 1) if answered else 0.0,
    }


def totals(cpu: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Sum of every group's cores and microseconds per request: what the whole run cost the machine."""
    return {
        "cores": round(sum(g["cores"] for g in cpu.values()), 3),
        "us_per_request": round(sum(g["us_per_request"] for g in cpu.values()), 1),
    }
