"""The supervisor's admin routes: ``POST /v1/reconcile`` (run now), ``GET /v1/reconcile`` (last reports)."""

from __future__ import annotations

import asyncio
from typing import Any

import ray
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors.gateway.admin import admin
from actors.gateway.dlq import redact, secrets_of
from actors.gateway.parsing import Invalid
from actors.gateway.state import gateway_of, json_response
from actors.names import NAMESPACE, supervisor_name


async def supervisor_of(request: Request, create: bool = True) -> Any:
    """The deployment's supervisor handle, created (in a worker thread) if missing and ``create``."""
    state = request.app.state
    handle = getattr(state, "supervisor", None)
    if handle is not None or not ray.is_initialized():  # never start Ray from a request
        return handle
    config = gateway_of(request).config
    try:
        handle = ray.get_actor(supervisor_name(config.store.key_prefix), namespace=NAMESPACE)
    except ValueError:
        if not create or not config.store.redis_url:
            return None
        from actors.runtime import ensure_supervisor

        handle = await asyncio.to_thread(ensure_supervisor, config, config.store.redis_url)
    state.supervisor = handle
    return handle


async def supervisor_health(request: Request) -> dict[str, Any] | None:
    """The supervisor's last health view (no new check), or None when no supervisor runs."""
    try:
        handle = await supervisor_of(request, create=False)
        if handle is None:
            return None
        view: dict[str, Any] = await asyncio.wait_for(handle.health_view.remote(), 2.0)
        return view
    except Exception:  # a supervisor that does not answer says nothing about the other actors
        request.app.state.supervisor = None
        return None


@admin
async def run_reconcile(request: Request) -> Response:
    """``POST /v1/reconcile?channel=``: reconcile one channel (or all) now; the drift reports."""
    channel = request.query_params.get("channel") or None
    if channel is not None and gateway_of(request).config.channel(channel) is None:
        raise Invalid(404, "unknown channel", channel=channel)
    handle = await supervisor_of(request)
    if handle is None:
        raise Invalid(503, "supervisor not running and no Redis URL to start it")
    try:
        reports = await handle.reconcile.remote(channel)
    except KeyError as exc:
        raise Invalid(422, "channel kind cannot be reconciled", channel=channel) from exc
    return json_response(200, {"reports": redact(reports, secrets_of(gateway_of(request).config))})


@admin
async def last_reports(request: Request) -> Response:
    """``GET /v1/reconcile``: each channel's last drift report, what stays dead, the health view."""
    handle = await supervisor_of(request)
    if handle is None:
        raise Invalid(503, "supervisor not running and no Redis URL to start it")
    reports, dead, health = await asyncio.gather(
        handle.reports.remote(), handle.dead_letters.remote(), handle.health_view.remote()
    )
    body = {"reports": reports, "dead_letters": dead, "health": health}
    return json_response(200, redact(body, secrets_of(gateway_of(request).config)))


def routes() -> list[Route]:
    """The supervisor's admin routes."""
    return [
        Route("/v1/reconcile", run_reconcile, methods=["POST"]),
        Route("/v1/reconcile", last_reports, methods=["GET"]),
    ]
