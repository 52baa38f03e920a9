"""The supervisor's admin routes: reconciliation runs (start, read, cancel) and the last reports.

``POST /v1/reconcile`` waits ``?wait=`` seconds (default ``WAIT_S``) for the run: one that ends in
time is answered 200 with its reports, as before; a longer one 202 with its run id, to be read at
``GET /v1/reconcile/{run_id}`` (which can wait too). The run itself lives in the supervisor, bounded
by ``engine.reconcile_deadline_s``, so a client that gives up leaves nothing unbounded behind, and a
second request for the same channels joins the run in flight (``actors.reconcile_runs``).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ray.exceptions import RayActorError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors.gateway.admin import admin
from actors.gateway.dlq import redact, secrets_of
from actors.gateway.parsing import Invalid
from actors.gateway.state import gateway_of, json_response
from actors.gateway.supervisor_handle import forget_supervisor, supervisor_handle

WAIT_S = 5.0
MAX_WAIT_S = 300.0
"""A client may wait longer by asking again (``GET /v1/reconcile/{run_id}?wait=``)."""


async def supervisor_of(request: Request, create: bool = True) -> Any:
    """The deployment's supervisor handle, created (in a worker thread) if missing and ``create``."""
    handle = await supervisor_handle(request.app, create)
    if handle is None:
        raise Invalid(503, "supervisor not running and no Redis URL to start it")
    return handle


async def ask(request: Request, call: Any) -> Any:
    """Await one supervisor call; a supervisor that died meanwhile is a 503 (looked up again next time)."""
    try:
        return await call
    except RayActorError as exc:
        forget_supervisor(request.app)
        raise Invalid(503, "supervisor not answering", retry=True) from exc


def wait_param(request: Request, default: float) -> float:
    raw = request.query_params.get("wait")
    if raw is None:
        return default
    try:
        wait = float(raw) if raw.isascii() else math.nan
    except ValueError:
        wait = math.nan
    if not 0 <= wait <= MAX_WAIT_S:  # NaN fails too
        raise Invalid(422, f"wait must be a number of seconds from 0 to {MAX_WAIT_S:g}")
    return wait


def run_answer(request: Request, status: dict[str, Any], **extra: Any) -> Response:
    """200 with the run's status (and reports once ended), 202 with a ``Location`` while it runs."""
    body = redact({**status, **extra}, secrets_of(gateway_of(request).config))
    if status["status"] == "running":
        return json_response(202, body, headers={"Location": f"/v1/reconcile/{status['run_id']}"})
    return json_response(200, body)


@admin
async def run_reconcile(request: Request) -> Response:
    """``POST /v1/reconcile?channel=&wait=``: start (or join) a manual run and wait a little for it."""
    channel = request.query_params.get("channel") or None
    if channel is not None and gateway_of(request).config.channel(channel) is None:
        raise Invalid(404, "unknown channel", channel=channel)
    wait = wait_param(request, WAIT_S)
    handle = await supervisor_of(request)
    try:
        started = await ask(request, handle.start_reconcile.remote(channel))
    except KeyError as exc:
        raise Invalid(422, "channel kind cannot be reconciled", channel=channel) from exc
    if "busy" in started:
        busy = started["busy"]
        body = {"error": "another manual reconciliation is running", "run_id": busy["run_id"], "run": busy}
        return json_response(409, body, headers={"Retry-After": str(max(1, int(wait or WAIT_S)))})
    run_id = started["run"]["run_id"]
    status = await ask(request, handle.wait_run.remote(run_id, wait))
    return run_answer(request, status or started["run"], joined=started["joined"])


@admin
async def read_run(request: Request) -> Response:
    """``GET /v1/reconcile/{run_id}?wait=``: a run's status, waiting up to ``wait`` s for its end."""
    handle = await supervisor_of(request, create=False)
    run_id = request.path_params["run_id"]
    status = await ask(request, handle.wait_run.remote(run_id, wait_param(request, 0.0)))
    if status is None:
        raise Invalid(404, "unknown run (or forgotten: a supervisor keeps its last runs)", run_id=run_id)
    return run_answer(request, status)


@admin
async def cancel_run(request: Request) -> Response:
    """``DELETE /v1/reconcile/{run_id}``: cancel a run; what it had done stays in its reports."""
    handle = await supervisor_of(request, create=False)
    run_id = request.path_params["run_id"]
    status = await ask(request, handle.cancel_run.remote(run_id))
    if status is None:
        raise Invalid(404, "unknown run", run_id=run_id)
    return run_answer(request, status)


@admin
async def last_reports(request: Request) -> Response:
    """``GET /v1/reconcile``: each channel's last drift report, what stays dead, the health view,
    and the supervisor's recent runs (newest first, without their reports)."""
    handle = await supervisor_of(request)
    reports, dead, health, runs = await ask(
        request,
        asyncio.gather(
            handle.reports.remote(),
            handle.dead_letters.remote(),
            handle.health_view.remote(),
            handle.recent_runs.remote(),
        ),
    )
    body = {"reports": reports, "dead_letters": dead, "health": health, "runs": runs}
    return json_response(200, redact(body, secrets_of(gateway_of(request).config)))


def routes() -> list[Route]:
    """The supervisor's admin routes."""
    return [
        Route("/v1/reconcile", run_reconcile, methods=["POST"]),
        Route("/v1/reconcile", last_reports, methods=["GET"]),
        Route("/v1/reconcile/{run_id}", read_run, methods=["GET"]),
        Route("/v1/reconcile/{run_id}", cancel_run, methods=["DELETE"]),
    ]
