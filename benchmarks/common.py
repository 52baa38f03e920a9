"""What every benchmark records beside its figures: the machine, the date, the software."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import orjson

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """The machine as a reader of the figures needs it, including how busy it was when they were written."""
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "redis": _redis_version(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def _redis_version() -> str:
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=5).stdout
        return out.split()[2].removeprefix("v=") if out else "unknown"
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def write_result(name: str, payload: dict[str, Any], out_dir: Path = RESULTS) -> Path:
    """Write ``<name>.json`` with the machine and the UTC time of the run added."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **payload,
    }
    path = out_dir / f"{name}.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def delete_prefix(redis_url: str, prefix: str) -> None:
    """Remove every key under ``prefix:`` (a run leaves about a million): one UNLINK per 5,000 keys."""
    import redis

    r = redis.Redis.from_url(redis_url)
    batch: list[bytes] = []
    for key in r.scan_iter(f"{prefix}:*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            r.unlink(*batch)
            batch.clear()
    if batch:
        r.unlink(*batch)
