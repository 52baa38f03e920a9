"""The webhook ASGI endpoint's own edges: an unexpected failure is a 500, a vanished client gets nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import orjson
import pytest

from actors.gateway import create_app
from adapters.shopify.inbound import signature
from engine.config import Config

SECRET = "unit-secret"


class Shards:
    """Decides nothing: records what reached it (nothing should, in these tests)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def submit_async(self, events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        self.seen.extend(events)
        return [{"key": e["key"], "outcome": "applied", "lines": []} for e in events], {}


def app_and_shards() -> tuple[Any, Shards]:
    config = Config.model_validate(
        {
            "gateway": {"admin_token": "t" * 32},
            "channels": [{"id": "shop", "kind": "shopify", "webhook_secret": SECRET}],
        }
    )
    shards = Shards()
    return create_app(config, shards, redis=fakeredis.FakeAsyncRedis()), shards  # type: ignore[arg-type]


def scope(body: bytes) -> dict[str, Any]:
    headers = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        "x-shopify-topic": "orders/create",
        "x-shopify-hmac-sha256": signature(SECRET, body),
        "x-shopify-event-id": "ev-1",
    }
    return {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/shop",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }


def run(app: Any, sc: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(sc, receive, send))
    return sent


BODY = orjson.dumps(
    {"id": 1, "updated_at": "2025-01-01T00:00:00Z", "line_items": [{"sku": "A", "quantity": 1}]}
)


def test_a_signed_delivery_reaches_the_shards_without_starlettes_router() -> None:
    app, shards = app_and_shards()
    sent = run(app, scope(BODY), [{"type": "http.request", "body": BODY, "more_body": False}])
    assert sent[0]["status"] == 200 and len(shards.seen) == 1
    assert orjson.loads(sent[1]["body"])["decisions"][0]["outcome"] == "applied"


def test_an_unexpected_failure_is_a_500_the_sender_may_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    app, shards = app_and_shards()
    route = app.state.gateway.inbound["shop"]

    def broken(*args: Any) -> Any:
        raise RuntimeError("adapter bug")

    monkeypatch.setattr(route.adapter, "normalise", broken)
    sent = run(app, scope(BODY), [{"type": "http.request", "body": BODY, "more_body": False}])
    assert sent[0]["status"] == 500
    assert orjson.loads(sent[1]["body"]) == {"error": "internal error", "retry": True}
    assert shards.seen == []


def test_a_client_gone_before_its_body_ends_gets_no_answer_and_changes_nothing() -> None:
    app, shards = app_and_shards()
    half = [{"type": "http.request", "body": BODY[:10], "more_body": True}, {"type": "http.disconnect"}]
    assert run(app, scope(BODY), half) == []
    assert shards.seen == []


def test_the_batch_settings_reach_one_batcher_per_shard() -> None:
    config = Config.model_validate(
        {
            "gateway": {"batch_max_events": 7, "batch_max_wait_ms": 3, "batch_max_inflight": 2},
            "engine": {"shards": 3},
            "channels": [{"id": "shop", "kind": "shopify", "webhook_secret": SECRET}],
        }
    )
    app = create_app(config, Shards(), redis=fakeredis.FakeAsyncRedis())  # type: ignore[arg-type]
    batchers = app.state.gateway.batcher.batchers
    assert len(batchers) == 3
    assert {(b.max_events, b.max_wait_s, b.max_inflight) for b in batchers} == {(7, 0.003, 2)}
