"""Walmart outbound: the per-SKU PUT (default and named ship node), when a backlog goes as a bulk
feed, each answer classified (200 with the token-count header, 429 with and without Retry-After,
5xx, 401, 404, a failed node), a feed's final status mapped back to SKUs, and one feed submitted,
polled and judged against the simulator over loopback on an injected clock; the channel keys."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ListingUpdate
from adapters.sim.core import SimulatedStore, serve_in_thread
from adapters.walmart import feed
from adapters.walmart.outbound import WalmartOutbound
from adapters.walmart.sim.app import WalmartSimulator
from adapters.walmart.tokens import HEADER, WalmartTokens
from engine.config import ChannelConfig, ConfigError, load_config
from tests.unit.clock import FakeClock


def channel(**keys: Any) -> ChannelConfig:
    base = {"base_url": "https://marketplace.walmartapis.com", "client_id": "cid", "client_secret": "cs"}
    return ChannelConfig(id="wm", kind="walmart", **{**base, **keys})


def update(sku: str, quantity: int) -> ListingUpdate:
    return ListingUpdate(sku, quantity, 1, {})


def adapter(**keys: Any) -> WalmartOutbound:
    """Bound to a channel with a token already held (no loop: nothing is fetched)."""
    tokens = WalmartTokens(channel(**keys))
    tokens.token, tokens.expires_at = "tok-1", tokens.clock() + 900
    made = WalmartOutbound().for_channel(channel(**keys))
    made.tokens = tokens
    return made


def answer(status: int, body: Any, request: httpx.Request, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body), headers=headers, request=request)


def test_a_put_sets_one_sku_at_the_default_ship_node() -> None:
    out = adapter()
    request = out.build(channel(), [update("SKU 1/a", 7)])
    assert request.method == "PUT" and request.url.path == "/v3/inventory"
    assert request.url.params["sku"] == "SKU 1/a"
    assert orjson.loads(request.content) == {"sku": "SKU 1/a", "quantity": {"unit": "EACH", "amount": 7}}
    assert request.headers[HEADER] == "tok-1" and request.headers["wm_svc.name"] == "Walmart Marketplace"
    assert request.headers["wm_qos.correlation_id"]


def test_a_named_ship_node_puts_its_input_quantity() -> None:
    out = adapter(ship_node="901")
    request = out.build(channel(ship_node="901"), [update("A/1", 3)])
    assert request.method == "PUT" and request.url.raw_path == b"/v3/inventories/A%2F1"
    body = orjson.loads(request.content)
    assert body == {
        "inventories": {"nodes": [{"shipNode": "901", "inputQty": {"unit": "EACH", "amount": 3}}]}
    }


def test_a_large_backlog_goes_as_one_feed_while_feeds_are_affordable() -> None:
    clock = FakeClock()
    out = adapter(feed_min_items=3, feed_max_items=4, feeds_per_hour=1)
    out.feeds = feed.FeedBudget(1, clock)
    few, many = [update(f"S{i}", i) for i in range(2)], [update(f"S{i}", i) for i in range(6)]
    assert out.max_batch == 4
    assert [len(g) for g in out.group(few)] == [1, 1]
    assert [len(g) for g in out.group(many)] == [4]
    request = out.build(channel(), out.group(many)[0])
    assert feed.is_submission(request) and request.url.params["feedType"] == "inventory"
    assert [len(g) for g in out.group(many)] == [1] * 6  # the hour's feed is spent: one SKU a call
    clock.advance(3600)
    assert [len(g) for g in out.group(many)] == [4]


def test_feeds_off_means_one_sku_a_call() -> None:
    out = adapter(feed_min_items=0)
    assert out.max_batch == 1 and [len(g) for g in out.group([update("A", 1), update("B", 2)])] == [1, 1]


def test_put_answers_are_classified() -> None:
    out = adapter()
    request = out.build(channel(), [update("A", 1)])
    ok = out.parse(answer(200, {"sku": "A"}, request, **{"X-Current-Token-Count": "3"}), [update("A", 1)])
    assert ok.ok == ["A"] and ok.budget_available == 3.0
    slow = out.parse(answer(429, {}, request, **{"Retry-After": "7"}), [update("A", 1)])
    assert slow.retry == ["A"] and slow.retry_after_s == 7.0
    assert out.parse(answer(429, {}, request), [update("A", 1)]).retry_after_s == 1.0
    assert out.parse(answer(503, {}, request), [update("A", 1)]).retry == ["A"]
    missing = {"errors": [{"code": "CONTENT_NOT_FOUND.GMP_INVENTORY_API", "description": "sku A not found"}]}
    failed = out.parse(answer(404, missing, request), [update("A", 1)])
    assert failed.failed == {"A": "HTTP 404: CONTENT_NOT_FOUND.GMP_INVENTORY_API: sku A not found"}


def test_a_refused_token_is_dropped_and_the_sku_retried() -> None:
    out = adapter()
    request = out.build(channel(), [update("A", 1)])
    assert out.parse(answer(401, {}, request), [update("A", 1)]).retry == ["A"]
    assert out.tokens is not None and out.tokens.token is None


def test_a_failed_node_fails_its_sku() -> None:
    out = adapter(ship_node="901")
    request = out.build(channel(ship_node="901"), [update("A", 1)])
    body = {"sku": "A", "nodes": [{"shipNode": "901", "status": "Failed", "errors": [{"code": "BAD_NODE"}]}]}
    assert out.parse(answer(200, body, request), [update("A", 1)]).failed == {"A": "node 901: BAD_NODE"}


def test_a_feed_status_is_mapped_back_to_skus() -> None:
    updates = [update(s, 1) for s in ("ok", "bad", "busy", "lost")]
    status = httpx.Request("GET", "https://x/v3/feeds/f-1")
    items = [
        {"sku": "ok", "ingestionStatus": "SUCCESS"},
        {
            "sku": "bad",
            "ingestionStatus": "DATA_ERROR",
            "ingestionErrors": {"ingestionError": [{"code": "ERR_X", "description": "no such sku"}]},
        },
        {"sku": "busy", "ingestionStatus": "SYSTEM_ERROR"},
    ]
    body = {"feedStatus": "PROCESSED", "itemDetails": {"itemIngestionStatus": items}}
    result = adapter().parse(answer(200, body, status), updates)
    assert result.ok == ["ok"] and result.retry == ["busy", "lost"]
    assert result.failed == {"bad": "DATA_ERROR: ERR_X: no such sku"}
    errored = {
        "feedStatus": "ERROR",
        "ingestionErrors": {"ingestionError": [{"code": "E", "description": "bad file"}]},
    }
    assert set(adapter().parse(answer(200, errored, status), updates).failed) == {"ok", "bad", "busy", "lost"}
    pending = adapter().parse(answer(200, {"feedStatus": "INPROGRESS"}, status), updates)
    assert pending.retry == ["ok", "bad", "busy", "lost"] and pending.retry_after_s


@pytest.fixture
def served() -> Iterator[tuple[WalmartSimulator, str, FakeClock]]:
    clock = FakeClock(1_800_000_000.0)
    sim = WalmartSimulator(
        client_id="cid", client_secret="cs", store=SimulatedStore(clock), feed_delay_s=30.0
    )
    sim.seed([{"sku": f"F{i}", "quantity": 0} for i in range(5)])
    url, stop = serve_in_thread(sim.app)
    yield sim, url, clock
    stop()


def test_a_feed_is_submitted_polled_and_judged_per_sku(
    served: tuple[WalmartSimulator, str, FakeClock],
) -> None:
    """The simulator processes the feed 30 s after submission on the same fake clock the adapter's
    polling advances: the poll loop sees INPROGRESS, then PROCESSED, with no real waiting."""
    sim, url, clock = served
    ch = channel(base_url=url, feed_min_items=2, feed_poll_s=10)
    polls: list[float] = []

    async def sleep(seconds: float) -> None:
        polls.append(seconds)
        clock.advance(seconds)

    async def run() -> Any:
        out = WalmartOutbound(sleep=sleep, clock=clock).for_channel(ch)
        out.sleep, out.clock = sleep, clock
        updates = [update("F0", 4), update("F1", 5), update("NOPE", 6)]
        async with httpx.AsyncClient(timeout=10) as client:
            await out.tokens.refresh(client)  # type: ignore[union-attr]
            request = out.build(ch, updates)
            final = await out.follow(client, ch, await client.send(request))
            return out.parse(final, updates), final

    result, final = asyncio.run(run())
    assert final.json()["feedStatus"] == "PROCESSED" and polls == [10, 10, 10]
    assert sorted(result.ok) == ["F0", "F1"] and list(result.failed) == ["NOPE"]
    assert "not found" in result.failed["NOPE"]
    assert sim.store.snapshot(lists=False)["listed"] == {"F0": 4, "F1": 5, "F2": 0, "F3": 0, "F4": 0}


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('auth_methd = "hmac"', "auth_methd"),
        ('auth_method = "md5"', "auth_method"),
        ('hmac_encoding = "base32"', "hmac_encoding"),
        ("feed_max_items = 5000", "feed_max_items"),
        ("catalog_page_size = 51", "catalog_page_size"),
    ],
)
def test_a_misspelt_or_mistyped_key_is_refused_naming_it(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "skusync.toml"
    path.write_text(f'[[channels]]\nid = "wm"\nkind = "walmart"\n{line}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == f"channels.wm.{key}"


def test_credentials_are_secrets() -> None:
    text = repr(channel(client_secret="very-secret-value", webhook_secret="hook-secret-value"))
    assert "very-secret-value" not in text and "hook-secret-value" not in text
