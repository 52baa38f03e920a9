"""``skusync reconcile``: start a run, then follow it by id until it ends, with progress on stderr.

A run longer than the server's short wait is answered 202 with its id; the client then long-polls
``GET /v1/reconcile/{run_id}?wait=`` (the server holds each poll until the run ends or the wait
passes), so following a run costs one request per ``poll_s``, not a busy loop.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import httpx

from actors.gateway.client import AdminClient

POLL_S = 10.0


def follow(
    client: AdminClient,
    channel: str | None,
    wait_s: float,
    poll_s: float = POLL_S,
    err: TextIO | None = None,
) -> dict[str, Any]:
    """The run's final status (``status`` is ``done``, ``failed``, ``deadline_exceeded`` or ``cancelled``).

    Progress goes to ``err``, by default the ``sys.stderr`` of the moment of the call (a default
    bound at import kept whatever stream was current then, closed by the time of a later call).
    """
    err = err or sys.stderr
    params: dict[str, Any] = {"wait": wait_s, **({"channel": channel} if channel else {})}
    status: dict[str, Any] = client.call("POST", "/v1/reconcile", params=params, timeout=_timeout(wait_s))
    if status.get("status") == "running":
        joined = " (joined the run in flight)" if status.get("joined") else ""
        print(f"skusync: reconcile run {status['run_id']} started{joined}", file=err, flush=True)
    while status.get("status") == "running":
        print(_progress(status), file=err, flush=True)
        path = f"/v1/reconcile/{status['run_id']}"
        status = client.call("GET", path, params={"wait": poll_s}, timeout=_timeout(poll_s))
    return status


def _timeout(wait_s: float) -> httpx.Timeout:
    return httpx.Timeout(10.0, read=wait_s + 30.0)


def _progress(status: dict[str, Any]) -> str:
    left = max(0.0, float(status["deadline_at"]) - float(status["started_at"]) - float(status["elapsed_s"]))
    return (
        f"skusync: reconcile {status['run_id']}: {status['step']}, "
        f"{float(status['elapsed_s']):.0f} s so far (cancelled in {left:.0f} s if still running)"
    )
