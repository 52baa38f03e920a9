"""Resident memory of every process of the stack, sampled over a run, and its summary per role.

Read from ``/proc/<pid>/status`` (every process is on this machine, the worker node's too). A role
(``gateway``, ``redis``, ``shard-0``...) keeps its name across restarts; a restart starts a new
process, so the summary also says how many processes a role had.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

Sample = tuple[float, str, int, int]
"""``(seconds since start, role, pid, RSS in KiB)``."""


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Every ``every_s``, ``pids()`` (role -> pid, None when unknown right now) and each one's RSS."""

    def __init__(self, pids: Callable[[], dict[str, int | None]], every_s: float) -> None:
        self.pids, self.every_s = pids, every_s
        self.samples: list[Sample] = []
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="soak-rss", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self.stop.wait(self.every_s):
            try:
                pids = self.pids()
            except Exception:  # a lookup during a fault: the next tick tries again
                continue
            t = time.monotonic() - self.t0
            for role, pid in pids.items():
                rss = None if pid is None else rss_kib(pid)
                if pid is not None and rss is not None:
                    self.samples.append((t, role, pid, rss))

    def summary(self) -> dict[str, dict[str, Any]]:
        return summarise(self.samples)


def summarise(samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """Per role: samples, processes, max MiB, median MiB in the second and last quarter of the
    run, and the growth between them (MiB and ratio); a role needs samples in both quarters."""
    if not samples:
        return {}
    end = max(t for t, *_ in samples)
    out: dict[str, dict[str, Any]] = {}
    for role in sorted({r for _, r, _, _ in samples}):
        mine = [(t, pid, kib) for t, r, pid, kib in samples if r == role]
        q2 = [kib for t, _, kib in mine if end / 4 <= t < end / 2]
        q4 = [kib for t, _, kib in mine if t >= 3 * end / 4]
        row: dict[str, Any] = {
            "samples": len(mine),
            "processes": len({pid for _, pid, _ in mine}),
            "max_mib": round(max(kib for *_, kib in mine) / 1024, 1),
        }
        if q2 and q4:
            m2, m4 = statistics.median(q2) / 1024, statistics.median(q4) / 1024
            row |= {
                "q2_median_mib": round(m2, 1),
                "q4_median_mib": round(m4, 1),
                "growth_mib": round(m4 - m2, 1),
                "growth_ratio": round(m4 / m2, 3),
            }
        out[role] = row
    return out
