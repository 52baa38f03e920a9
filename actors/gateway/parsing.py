"""Parsing admin requests: JSON bodies, parameters, idempotency keys; refusals raise ``Invalid``."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from actors.gateway.body import read_capped
from actors.gateway.state import gateway_of
from engine.events import path_safe

M = TypeVar("M", bound=BaseModel)
MAX_LIMIT = 1000
KEY_PREFIX = "admin/"
"""Admin event keys start with ``admin/``: channel ids cannot contain ``/``, so no webhook key
(``<channel id>:...``) can collide with one."""


class Invalid(Exception):
    """A request the admin API refuses: ``status`` (400, 404, 409, 422) with a one-line reason."""

    def __init__(self, status: int, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status, self.reason, self.extra = status, reason, extra


async def body_model(request: Request, model: type[M]) -> M:
    """The JSON body validated by ``model``: 400 if not JSON, 422 naming the first bad field."""
    raw = await read_capped(request, gateway_of(request).config.gateway.max_body_bytes)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid(400, "body is not valid JSON") from None
    return build(model, data)


def build(model: type[M], data: Any) -> M:
    """Validate ``data`` into ``model``; a failure is a 422 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise Invalid(422, f"{where}: {err['msg']}" if where else err["msg"]) from None


def sku_param(value: str | None) -> str:
    """A SKU from the path or query: 1 to 200 characters, no ``/``, no control character
    (``engine.events.Sku``: a SKU the engine would refuse cannot be asked about either)."""
    if value is None or not 1 <= len(value) <= 200:
        raise Invalid(422, "sku must be 1 to 200 characters")
    try:
        return path_safe(value)
    except ValueError as exc:
        raise Invalid(422, f"sku {exc}") from None


def limit_param(request: Request, default: int = 50) -> int:
    """``?limit=``: an integer from 1 to ``MAX_LIMIT``."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    # str.isdigit and int() also take other scripts' digits (full-width, Arabic-Indic): ASCII
    # only, so one number has one spelling (in caches, logs and signatures alike)
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid(422, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def event_key(request: Request, default: str | None = None) -> str:
    """``Idempotency-Key`` if sent (a retry replays the first answer), else ``default`` or a new uuid."""
    sent = request.headers.get("idempotency-key", "").strip()
    if len(sent) > 200:
        raise Invalid(422, "Idempotency-Key must be at most 200 characters")
    return KEY_PREFIX + (sent or default or uuid.uuid4().hex)
