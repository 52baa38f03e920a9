"""The benchmark's CPU meter reads real processes' CPU time from /proc (Linux, as CI) and divides it right."""

from __future__ import annotations

import os
import time

from benchmarks.proc_cpu import CpuMeter, cpu_seconds, totals, usage


def test_cpu_seconds_grows_while_this_process_computes() -> None:
    before = cpu_seconds(os.getpid())
    assert before is not None
    spin_until = time.process_time() + 0.2
    while time.process_time() < spin_until:
        pass
    after = cpu_seconds(os.getpid())
    assert after is not None and after - before >= 0.1


def test_a_pid_that_does_not_exist_reads_as_none() -> None:
    assert cpu_seconds(2**22 + 12345) is None  # above Linux's pid_max ceiling


def test_meter_reports_readable_groups_and_leaves_out_unreadable_ones() -> None:
    meter = CpuMeter({"me": [os.getpid()], "gone": [2**22 + 12345]})
    spin_until = time.process_time() + 0.2
    while time.process_time() < spin_until:
        pass
    out = meter.result(answered=1000, elapsed_s=0.5)
    assert set(out) == {"me"}
    assert out["me"]["cores"] >= 0.2
    assert out["me"]["us_per_request"] >= 100.0


def test_usage_and_totals_arithmetic() -> None:
    assert usage(0.5, 1000, 2.0) == {"cores": 0.25, "us_per_request": 500.0}
    assert usage(0.5, 0, 0.0) == {"cores": 0.0, "us_per_request": 0.0}
    both = totals({"a": usage(0.5, 1000, 2.0), "b": usage(0.25, 1000, 2.0)})
    assert both == {"cores": 0.375, "us_per_request": 750.0}
