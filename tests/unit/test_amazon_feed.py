"""Amazon ``JSON_LISTINGS_FEED``: when a backlog goes as a feed, the document it sends, how its
processing report maps back to SKUs, and the whole flow over loopback against the strict simulator
(document, upload, createFeed, getFeed, getFeedDocument, report)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from adapters.amazon import feed
from adapters.amazon.lwa import LwaTokens
from adapters.amazon.outbound import AmazonOutbound
from adapters.amazon.sim.app import AmazonSimulator
from adapters.base import ListingUpdate
from adapters.sim.core import TokenBucket, serve_in_thread
from engine.config import ChannelConfig

SELLER = "A2FEEDSELLER"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def channel(url: str = "https://sellingpartnerapi-na.amazon.com", **over: Any) -> ChannelConfig:
    keys: dict[str, Any] = {
        "base_url": url,
        "token_url": f"{url}/auth/o2/token",
        "client_id": "amzn1.application-oa2-client.sim",
        "client_secret": "sim-client-secret",
        "refresh_token": "Atzr|sim-refresh",
        "seller_id": SELLER,
        "marketplace_id": "ATVPDKIKX0DER",
        "feed_poll_s": 0.01,
        "feed_patch_reserve": 0,  # the grouping tests below count feeds alone; the reserve has its own
    }
    return ChannelConfig(id="amz-feed", kind="amazon", **(keys | over))


def adapter(ch: ChannelConfig, clock: Clock | None = None) -> AmazonOutbound:
    async def no_wait(_: float) -> None:
        return None

    made = AmazonOutbound(sleep=no_wait, clock=clock or Clock()).for_channel(ch)
    if made.tokens is not None and made.tokens.token is None:  # a unit test runs no event loop
        made.tokens.token, made.tokens.expires_at = "Atza|unit", made.tokens.clock() + 3600
    return made


def update(sku: str, quantity: int, product: str = "SHIRT") -> ListingUpdate:
    return ListingUpdate(sku, quantity, 1, {"product_type": product})


def report_answer(report: dict[str, Any], status: str, gzipped: bool = False) -> httpx.Response:
    request = feed.staged(httpx.Request("GET", "https://s3.example/report"), "report")
    request.extensions["processing_status"] = status
    request.extensions["compression"] = "GZIP" if gzipped else None
    raw = orjson.dumps(report)
    return httpx.Response(200, content=gzip.compress(raw) if gzipped else raw, request=request)


# -- grouping --------------------------------------------------------------------------------------


def test_a_backlog_at_the_threshold_goes_as_one_feed_while_feeds_are_affordable() -> None:
    clock = Clock()
    out = adapter(channel(feed_min_items=3, feed_max_items=4), clock)
    few, many = [update(f"S{i}", i) for i in range(2)], [update(f"S{i}", i) for i in range(6)]
    assert out.max_batch == 4 and out.cost(many[:4]) == 1.0
    assert [len(g) for g in out.group(few)] == [1, 1]
    assert [len(g) for g in out.group(many)] == [4]
    first = out.build(channel(feed_min_items=3, feed_max_items=4), out.group(many)[0])
    assert [len(g) for g in out.group(many)] == [1] * 6  # one feed at a time: patches meanwhile
    out.parse(httpx.Response(429, request=first), many[:4])  # its flow ended
    for _ in range(4):  # the rest of the window's five feeds
        request = out.build(channel(feed_min_items=3, feed_max_items=4), out.group(many)[0])
        out.parse(httpx.Response(503, request=request), many[:4])
    assert [len(g) for g in out.group(many)] == [1] * 6  # spent: one SKU a patch
    clock.t += 60  # one feed refilled (5 per 300 s)
    assert [len(g) for g in out.group(many)] == [4]


def test_the_most_urgent_skus_stay_out_of_a_feed_as_patches() -> None:
    # a SKU in a feed waits for the feed's processing before its next change can go: the head of
    # the backlog (sold-out first, then oldest: a flash sale's hot SKUs) must not be held there
    out = adapter(channel(feed_min_items=3, feed_max_items=10, feed_patch_reserve=2))
    backlog = [update(f"S{i}", i) for i in range(6)]
    groups = out.group(backlog)
    assert [u.sku for u in groups[0]] == ["S2", "S3", "S4", "S5"]  # the feed, sent first
    assert [g[0].sku for g in groups[1:]] == ["S0", "S1"]  # then one patch each
    assert [len(g) for g in out.group(backlog[:3])] == [1, 1, 1]  # a lone SKU past the reserve: patched
    assert adapter(channel(feed_patch_reserve=None)).patch_reserve == 100  # the default


def test_feeds_are_on_by_default_at_500_and_off_at_0() -> None:
    on = adapter(channel())
    assert (on.feed_min, on.max_batch) == (500, 25_000)
    assert [len(g) for g in on.group([update(f"S{i}", 1) for i in range(499)])] == [1] * 499
    off = adapter(channel(feed_min_items=0))
    assert off.max_batch == 1 and [len(g) for g in off.group([update("A", 1), update("B", 2)])] == [1, 1]


# -- the document ------------------------------------------------------------------------------------


def test_the_feed_starts_with_createfeeddocument_carrying_a_listings_feed_v2() -> None:
    ch = channel(feed_min_items=2)
    out = adapter(ch)
    request = out.build(ch, [update("A/1", 3), update("B", 0, "LUGGAGE")])
    assert request.method == "POST" and request.url.path == "/feeds/2021-06-30/documents"
    assert orjson.loads(request.content) == {"contentType": "application/json; charset=UTF-8"}
    doc = orjson.loads(request.extensions[feed.BODY])
    assert doc["header"] == {"sellerId": SELLER, "version": "2.0", "issueLocale": "en_US"}
    value = [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}]
    assert doc["messages"][0] == {
        "messageId": 1,
        "sku": "A/1",
        "operationType": "PATCH",
        "productType": "SHIRT",
        "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability", "value": value}],
    }
    assert doc["messages"][1]["messageId"] == 2 and doc["messages"][1]["productType"] == "LUGGAGE"


# -- the report ----------------------------------------------------------------------------------------


def test_the_report_fails_only_the_messages_with_an_error() -> None:
    out = adapter(channel(feed_min_items=2))
    updates = [update(s, 1) for s in ("ok", "bad", "warned", "by-sku")]
    issues = [
        {"messageId": 2, "sku": "bad", "code": "90220", "severity": "ERROR", "message": "x is required"},
        {"messageId": 3, "sku": "warned", "code": "1", "severity": "WARNING", "message": "fine"},
        {"sku": "by-sku", "code": "8", "severity": "ERROR", "message": "no messageId"},
    ]
    for gzipped in (False, True):
        result = out.parse(report_answer({"issues": issues, "summary": {}}, "DONE", gzipped), updates)
        assert result.ok == ["ok", "warned"] and not result.retry
        assert result.failed == {
            "bad": "feed issue 90220: x is required",
            "by-sku": "feed issue 8: no messageId",
        }


def test_a_fatal_feed_sends_again_what_it_did_not_refuse_and_unfinished_feeds_send_all() -> None:
    out = adapter(channel(feed_min_items=2))
    updates = [update("A", 1), update("B", 1)]
    issues = [{"messageId": 1, "code": "9", "severity": "ERROR", "message": "bad"}]
    fatal = out.parse(report_answer({"issues": issues}, "FATAL"), updates)
    assert fatal.failed == {"A": "feed issue 9: bad"} and fatal.retry == ["B"]
    status = feed.staged(httpx.Request("GET", "https://x/feeds/2021-06-30/feeds/f"), "status")
    unfinished = httpx.Response(200, json={"processingStatus": "IN_PROGRESS"}, request=status)
    assert out.parse(unfinished, updates).retry == ["A", "B"]
    create = feed.staged(httpx.Request("POST", "https://x/feeds/2021-06-30/feeds"), "create")
    throttled = out.parse(httpx.Response(429, json={"errors": []}, request=create), updates)
    assert throttled.retry == ["A", "B"] and throttled.retry_after_s == 1.0
    refused = out.parse(
        httpx.Response(400, json={"errors": [{"code": "InvalidInput"}]}, request=create), updates
    )
    assert set(refused.failed) == {"A", "B"} and "InvalidInput" in refused.failed["A"]
    result = feed.staged(httpx.Request("GET", "https://x/feeds/2021-06-30/documents/d"), "result")
    assert out.parse(httpx.Response(404, request=result), updates).retry == ["A", "B"]  # report unread


# -- over loopback -----------------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[AmazonSimulator, str]]:
    sim = AmazonSimulator(seller_id=SELLER)
    sim.seed([{"sku": f"F{i}", "quantity": 0} for i in range(4)])
    url, stop = serve_in_thread(sim.app)
    yield sim, url
    stop()


async def push(out: AmazonOutbound, ch: ChannelConfig, updates: list[ListingUpdate]) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        assert out.tokens is not None
        await out.tokens.refresh(client)
        response = await client.send(out.build(ch, updates))
        return out.parse(await out.follow(client, ch, response), updates)


def test_a_feed_reaches_the_simulator_and_its_report_maps_back(served: tuple[AmazonSimulator, str]) -> None:
    sim, url = served
    ch = channel(url, feed_min_items=2)
    updates = [update("F0", 5), update("F1", 6), update("GONE", 7), update("F3", -1)]
    result = asyncio.run(push(adapter(ch), ch, updates))
    assert result.ok == ["F0", "F1"] and not result.retry
    assert set(result.failed) == {"GONE", "F3"} and "not a listing" in result.failed["GONE"]
    listed = {sku: item.quantity for sku, item in sim.store.listings.items()}
    assert listed == {"F0": 5, "F1": 6, "F2": 0, "F3": 0}
    assert sim.store.counters["calls:createFeed"] == 1 and sim.store.counters["calls:getFeed"] == 2


def test_the_feed_quota_refuses_a_sixth_feed_and_the_skus_go_again(
    served: tuple[AmazonSimulator, str],
) -> None:
    sim, url = served
    sim.feeds.quota = TokenBucket(5.0, 1e-9)
    sim.feeds.quota.take(5.0)  # five feeds in the last five minutes
    ch = channel(url, feed_min_items=2)
    out = adapter(ch)
    result = asyncio.run(push(out, ch, [update("F0", 1), update("F1", 1)]))
    assert result.retry == ["F0", "F1"] and sim.store.counters["throttled"] == 1
    assert out.feeds is not None and out.feeds.available() < 1  # no further feed this window


def test_an_upload_with_another_content_type_is_refused(served: tuple[AmazonSimulator, str]) -> None:
    url = served[1]
    tokens = LwaTokens(channel(url))

    async def run() -> tuple[int, int]:
        async with httpx.AsyncClient(timeout=10) as client:
            token = await tokens.refresh(client)
            made = await client.post(
                f"{url}/feeds/2021-06-30/documents",
                json={"contentType": feed.CONTENT_TYPE},
                headers={"x-amz-access-token": token},
            )
            target = made.json()["url"]
            wrong = await client.put(target, content=b"{}", headers={"Content-Type": "text/plain"})
            right = await client.put(target, content=b"{}", headers={"Content-Type": feed.CONTENT_TYPE})
            return wrong.status_code, right.status_code

    assert asyncio.run(run()) == (403, 200)
