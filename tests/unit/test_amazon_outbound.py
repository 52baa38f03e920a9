"""Amazon outbound: the patchListingsItem request, its answers (429 and 403 included), LWA token timing
with an injected clock, and the channel keys."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from adapters.amazon.lwa import EXPIRY_MARGIN_S, REFRESH_MARGIN_S, LwaTokens, TokenPending
from adapters.amazon.outbound import AmazonOutbound
from adapters.base import ListingUpdate
from engine.config import ChannelConfig, ConfigError, load_config

KEYS: dict[str, Any] = {
    "base_url": "https://sellingpartnerapi-na.amazon.com",
    "token_url": "https://api.amazon.com/auth/o2/token",
    "client_id": "cid",
    "client_secret": "csecret",
    "refresh_token": "Atzr|refresh",
    "seller_id": "A2EXAMPLE",
    "marketplace_id": "ATVPDKIKX0DER",
    "product_type": "PRODUCT",
}


def channel(**over: Any) -> ChannelConfig:
    return ChannelConfig(id="amz", kind="amazon", **{**KEYS, **over})


class Clock:
    def __init__(self) -> None:
        self.t = 1_790_000_000.0

    def __call__(self) -> float:
        return self.t


def tokens_with(token: str, ttl: float, clock: Clock) -> LwaTokens:
    tokens = LwaTokens(channel(), clock)
    tokens.token, tokens.expires_at = token, clock() + ttl
    return tokens


def adapter(token: str = "Atza|t1") -> AmazonOutbound:
    return AmazonOutbound(tokens=tokens_with(token, 3600, Clock()))


def test_the_patch_merges_fulfillment_availability_with_product_type() -> None:
    request = adapter().build(channel(), [ListingUpdate("SKU/1 ü", 7, 3, {"product_type": "SHIRT"})])
    assert request.method == "PATCH"
    assert (
        request.url.raw_path.decode()
        == "/listings/2021-08-01/items/A2EXAMPLE/SKU%2F1%20%C3%BC?marketplaceIds=ATVPDKIKX0DER"
    )
    assert request.url.params["marketplaceIds"] == "ATVPDKIKX0DER"
    assert request.headers["x-amz-access-token"] == "Atza|t1"
    assert orjson.loads(request.content) == {
        "productType": "PRODUCT",  # the channel's key wins over the listing's own
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}],
            }
        ],
    }
    without_key = channel(product_type=None)
    request = adapter().build(without_key, [ListingUpdate("A", 1, 1, {"product_type": "SHIRT"})])
    assert orjson.loads(request.content)["productType"] == "SHIRT"
    with pytest.raises(ValueError, match="productType"):
        adapter().build(without_key, [ListingUpdate("A", 1, 1, {})])
    with pytest.raises(ValueError, match=r"carries 1\.\.1 SKUs"):  # feeds off: one SKU a request
        adapter().build(channel(), [ListingUpdate("A", 1, 1, {}), ListingUpdate("B", 1, 1, {})])


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("PATCH", "https://x/", headers={"x-amz-access-token": "Atza|t1"})
    return httpx.Response(status, content=orjson.dumps(body or {}), headers=headers, request=request)


def test_answers_are_classified() -> None:
    a, ups = adapter(), [ListingUpdate("A", 1, 1, {})]
    assert a.parse(answer(200, {"sku": "A", "status": "ACCEPTED", "submissionId": "s"}), ups).ok == ["A"]
    invalid = {"status": "INVALID", "issues": [{"code": "900", "message": "bad", "severity": "ERROR"}]}
    assert a.parse(answer(200, invalid), ups).failed == {"A": "INVALID: 900: bad"}
    throttled = a.parse(answer(429, {"errors": [{"code": "QuotaExceeded", "message": "m"}]}), ups)
    assert throttled.retry == ["A"] and throttled.retry_after_s == 1.0
    assert a.parse(answer(429, {}, {"Retry-After": "3"}), ups).retry_after_s == 3.0
    assert a.parse(answer(503), ups).retry == ["A"]
    bad = a.parse(answer(400, {"errors": [{"code": "InvalidInput", "message": "no productType"}]}), ups)
    assert bad.failed == {"A": "HTTP 400: InvalidInput: no productType"}


def test_a_403_drops_the_token_so_the_retry_carries_a_new_one() -> None:
    a = adapter("Atza|t1")
    assert a.parse(answer(403), [ListingUpdate("A", 1, 1, {})]).retry == ["A"]
    assert a.tokens is not None and a.tokens.token is None
    with pytest.raises(TokenPending):
        a.build(channel(), [ListingUpdate("A", 1, 1, {})])


def test_tokens_are_refreshed_before_expiry_and_never_used_in_their_last_minute() -> None:
    clock = Clock()
    tokens = tokens_with("Atza|old", 3600, clock)
    kicked: list[float] = []
    tokens.kick = lambda: kicked.append(clock())  # type: ignore[method-assign]
    assert tokens.current() == "Atza|old" and kicked == []
    clock.t += 3600 - REFRESH_MARGIN_S  # refresh due: still usable, a refresh starts
    assert tokens.current() == "Atza|old" and len(kicked) == 1
    clock.t += REFRESH_MARGIN_S - EXPIRY_MARGIN_S  # last minute: not used any more
    assert tokens.current() is None
    with pytest.raises(TokenPending):
        tokens.require()


def test_a_refresh_posts_the_credentials_and_reads_expires_in() -> None:
    clock, seen = Clock(), []

    def lwa(request: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(request.content))
        return httpx.Response(200, json={"access_token": "Atza|new", "expires_in": 3600})

    async def run() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(lwa)) as client:
            return await LwaTokens(channel(), clock).ensure(client)

    assert asyncio.run(run()) == "Atza|new"
    assert seen == [
        {
            "grant_type": "refresh_token",
            "refresh_token": "Atzr|refresh",
            "client_id": "cid",
            "client_secret": "csecret",
        }
    ]


@pytest.mark.parametrize(
    ("line", "key"), [('sellerid = "A2"', "sellerid"), ("marketplace_id = 5", "marketplace_id")]
)
def test_a_misspelt_or_mistyped_key_is_refused_naming_it(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "skusync.toml"
    path.write_text(f'[[channels]]\nid = "amz"\nkind = "amazon"\n{line}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == f"channels.amz.{key}"


def test_credentials_are_secrets() -> None:
    ch = channel()
    assert ch.client_secret.get_secret_value() == "csecret"  # type: ignore[attr-defined]
    assert "csecret" not in repr(ch) and "Atzr|refresh" not in repr(ch)


def test_reads_use_the_page_sizes_the_channel_sets() -> None:
    """``catalog_page_size`` and ``reconcile_page_size`` reach the requests (clamped to each
    operation's maximum: searchListingsItems 20, searchOrders 100), so a small page pages."""
    from adapters.amazon import lwa
    from adapters.amazon.reconcile import AmazonReconcile
    from adapters.reading import ReadStats

    sent: list[httpx.URL] = []

    def sp_api(request: httpx.Request) -> httpx.Response:
        sent.append(request.url)
        if request.url.path.startswith("/orders/"):
            return httpx.Response(200, json={"orders": []})
        item = {"sku": "A", "summaries": [{"marketplaceId": "ATVPDKIKX0DER", "productType": "SHIRT"}]}
        return httpx.Response(200, json={"numberOfResults": 1, "items": [item]})

    async def free(cost: float) -> None:
        return None

    async def run(ch: ChannelConfig) -> None:
        tokens = lwa.tokens_for(ch)
        tokens.token, tokens.expires_at = "Atza|t1", 4e9
        reader = AmazonReconcile()
        async with httpx.AsyncClient(transport=httpx.MockTransport(sp_api)) as client:
            await AmazonOutbound(tokens=tokens).import_catalog(client, ch)
            async for _ in reader.orders_since(client, ch, 0.0, free, ReadStats()):
                pass
            async for _ in reader.listed_quantities(client, ch, free, ReadStats()):
                pass

    asyncio.run(run(channel(seller_id="A2PAGING", catalog_page_size=3, reconcile_page_size=50)))
    catalog, orders, quantities = sent
    assert catalog.params["pageSize"] == "3"
    assert orders.params["maxResultsPerPage"] == "50"
    assert quantities.params["pageSize"] == "20"  # searchListingsItems' maximum

    sent.clear()
    asyncio.run(run(channel(seller_id="A2PAGING")))
    sizes = [u.params.get("pageSize") or u.params.get("maxResultsPerPage") for u in sent]
    assert sizes == ["20", "100", "20"]  # the defaults: each operation's maximum
