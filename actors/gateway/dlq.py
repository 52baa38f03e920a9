"""``GET /v1/dlq`` and ``POST /v1/dlq/redrive``: the channel actors' dead letters, shown without secrets."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors.gateway.admin import admin
from actors.gateway.channels import ADMIN_TIMEOUT_S, UNAVAILABLE, channels_of
from actors.gateway.parsing import Invalid, limit_param
from actors.gateway.state import gateway_of, json_response
from engine.config import Config

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"secret|token|password|key", re.IGNORECASE)
_MIN_SECRET = 4
"""Shorter configured values are not searched for: replacing every "ab" would garble the entries."""


def secrets_of(config: Config) -> list[str]:
    """Every credential in ``config``: the admin token, channel secrets and secret-named extras.

    The channel actor already keeps headers out of its entries; this is the second line, for a
    marketplace that echoes a credential in its error body or a base URL that carries one.
    """
    found = [config.gateway.admin_token.get_secret_value()]
    for channel in config.channels:
        found += [channel.webhook_secret.get_secret_value(), channel.access_token.get_secret_value()]
        found += [
            str(v)
            for k, v in (channel.model_extra or {}).items()
            if _SECRET_NAME.search(k) and isinstance(v, str | int)
        ]
    return sorted({s for s in found if len(s) >= _MIN_SECRET}, key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    """``value`` with every occurrence of a secret in its strings replaced by ``REDACTED``."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value


def _bare_url(url: str) -> str:
    """Scheme, host and path only: user info and query strings may carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def shown(entry: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """One dead letter as the admin API shows it: what was sent, what came back, how often, when."""
    request = dict(entry.get("request") or {})
    if isinstance(request.get("url"), str):
        request["url"] = _bare_url(request["url"])
    return redact(
        {
            "id": entry["id"],
            "channel": entry["channel"],
            "sku": entry["sku"],
            "target": entry.get("target"),
            "request": request,
            "response": entry.get("response"),
            "error": entry.get("error"),
            "attempts": entry.get("attempts"),
            "at": entry.get("at"),
        },
        secrets,
    )


def chosen_channels(request: Request) -> list[str]:
    """``?channel=`` if given (404 unless configured), else every configured channel."""
    ids = channels_of(request).ids
    wanted = request.query_params.get("channel") or None
    if wanted is None:
        return ids
    if wanted not in ids:
        raise Invalid(404, "unknown channel", channel=wanted)
    return [wanted]


def _entry_order(entry: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(p) for p in str(entry["id"]).split("-"))


@admin
async def dlq_list(request: Request) -> Response:
    """``GET /v1/dlq?channel=&limit=``: dead letters, oldest first, and each channel's state.

    A channel whose actor is missing or does not answer is reported as ``{"error": "unavailable"}``
    under ``channels``; the others' entries are still listed.
    """
    ids, limit = chosen_channels(request), limit_param(request, default=100)
    answers = await channels_of(request).ask(ids, "dlq_list", limit, timeout_s=ADMIN_TIMEOUT_S)
    secrets = secrets_of(gateway_of(request).config)
    entries: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    for cid, answer in answers.items():
        if isinstance(answer, list):
            entries += [shown(e, secrets) for e in answer]
            state[cid] = {"entries": len(answer)}
        else:
            state[cid] = answer
    entries.sort(key=_entry_order)
    return json_response(200, {"entries": entries[:limit], "channels": state})


@admin
async def dlq_redrive(request: Request) -> Response:
    """``POST /v1/dlq/redrive?channel=``: queue every dead-lettered SKU again (its newest target).

    Each channel actor makes the targets pending before deleting the entries, so repeating a
    redrive (after a timeout, say) is safe. 503 when no asked channel's actor answered.
    """
    ids = chosen_channels(request)
    answers = await channels_of(request).ask(ids, "dlq_redrive", timeout_s=ADMIN_TIMEOUT_S)
    done = [a for a in answers.values() if a != UNAVAILABLE]
    totals = {k: sum(int(a.get(k, 0)) for a in done) for k in ("entries", "requeued", "obsolete")}
    status = 200 if done or not ids else 503
    body: dict[str, Any] = {**totals, "channels": answers}
    if status == 503:
        body["error"] = "no channel actor answered"
    return json_response(status, body)


def routes() -> list[Route]:
    """The dead-letter routes."""
    return [
        Route("/v1/dlq", dlq_list, methods=["GET"]),
        Route("/v1/dlq/redrive", dlq_redrive, methods=["POST"]),
    ]
