"""eBay outbound: the bulkUpdatePriceQuantity request (one value in both quantity fields, the per-call
count), its answers (200, 207 with per-item errors, 429, 401, 400), revisions counted per listing,
user tokens refreshed against the simulator with an injected clock, and the channel keys."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ListingUpdate
from adapters.ebay.oauth import EXPIRY_MARGIN_S, REFRESH_MARGIN_S, EbayTokens, TokenError, TokenPending
from adapters.ebay.outbound import PATH, EbayOutbound
from adapters.ebay.revisions import LIMIT, WARN_AT, Revisions
from adapters.ebay.sim.app import EbaySimulator
from adapters.sim.core import serve_in_thread
from engine.config import ChannelConfig, ConfigError, load_config
from tests.unit.clock import FakeClock

KEYS: dict[str, Any] = {
    "base_url": "https://api.ebay.com",
    "token_url": "https://api.ebay.com/identity/v1/oauth2/token",
    "client_id": "sim-client-id",
    "client_secret": "sim-client-secret",
    "refresh_token": "v^1.1#sim-refresh",
    "verification_token": "verification-token-0123456789",
    "endpoint_url": "https://sync.example.com/webhooks/ebay-us",
}


def channel(**over: Any) -> ChannelConfig:
    return ChannelConfig(id="ebay-us", kind="ebay", **{**KEYS, **over})


def adapter(max_batch: int = 1, clock: FakeClock | None = None) -> EbayOutbound:
    tokens = EbayTokens(channel(), user=True, clock=clock or FakeClock())
    tokens.token, tokens.expires_at = "tok-1", tokens.clock() + 7200
    return EbayOutbound(tokens=tokens, max_batch=max_batch, revisions=Revisions(clock=clock or FakeClock()))


def update(sku: str, qty: int, offers: tuple[str, ...] = ("O1",), listing: str = "110") -> ListingUpdate:
    return ListingUpdate(sku, qty, 1, {"offers": list(offers), "listings": [listing]})


def answer(
    request: httpx.Request, status: int, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body), headers=headers, request=request)


def test_the_request_sends_one_value_in_both_quantity_fields() -> None:
    request = adapter().build(channel(), [update("S-1", 7, ("O1", "O2"))])
    assert request.method == "POST" and request.url.path == PATH
    assert request.headers["authorization"] == "Bearer tok-1"
    assert orjson.loads(request.content) == {
        "requests": [
            {
                "sku": "S-1",
                "shipToLocationAvailability": {"quantity": 7},
                "offers": [
                    {"offerId": "O1", "availableQuantity": 7},
                    {"offerId": "O2", "availableQuantity": 7},
                ],
            }
        ]
    }


def test_the_per_call_count_defaults_to_one_sku_and_follows_max_batch() -> None:
    with pytest.raises(ValueError, match=r"1\.\.1 SKUs"):
        adapter().build(channel(), [update("A", 1), update("B", 2)])
    assert EbayOutbound().for_channel(channel()).max_batch == 1
    assert EbayOutbound().for_channel(channel(max_batch=25)).max_batch == 25
    request = adapter(max_batch=2).build(channel(), [update("A", 1), update("B", 2)])
    assert [r["sku"] for r in orjson.loads(request.content)["requests"]] == ["A", "B"]


def test_each_sku_is_judged_by_its_own_entries() -> None:
    out = adapter(max_batch=4)
    updates = [update("OK", 1), update("BAD", 2), update("SYS", 3), update("GONE", 4)]
    request = out.build(channel(), updates)
    body = {
        "responses": [
            {"statusCode": 200, "sku": "OK", "offerId": "O1", "errors": []},
            {
                "statusCode": 400,
                "sku": "BAD",
                "offerId": "O1",
                "errors": [{"errorId": 25713, "message": "x"}],
            },
            {
                "statusCode": 500,
                "sku": "SYS",
                "offerId": "O1",
                "errors": [{"errorId": 25001, "message": "s"}],
            },
        ]
    }
    result = out.parse(answer(request, 207, body), updates)
    assert result.ok == ["OK"] and list(result.failed) == ["BAD"] and "25713" in result.failed["BAD"]
    assert result.retry == ["SYS", "GONE"]  # a retryable error, and a SKU eBay did not answer for
    assert out.revisions is not None and out.revisions.count("110") == 1  # only the written one


def test_throttles_token_refusals_and_call_refusals() -> None:
    out = adapter()
    updates = [update("A", 1)]
    request = out.build(channel(), updates)
    throttled = out.parse(answer(request, 429, {"errors": []}, {"Retry-After": "3"}), updates)
    assert throttled.retry == ["A"] and throttled.retry_after_s == 3.0
    assert out.parse(answer(request, 429, {}), updates).retry_after_s == 1.0
    assert out.parse(answer(request, 503, {}), updates).retry == ["A"]
    refused = out.parse(answer(request, 401, {"errors": [{"errorId": 1001}]}), updates)
    assert refused.retry == ["A"] and out.tokens is not None and out.tokens.token is None  # dropped
    bad = out.parse(answer(request, 400, {"errors": [{"errorId": 25799, "message": "too many"}]}), updates)
    assert bad.failed == {"A": "HTTP 400: 25799: too many"}


def test_revisions_are_counted_per_listing_in_a_rolling_day() -> None:
    clock = FakeClock()
    revisions = Revisions(clock=clock)
    revisions.record(["110"] * (WARN_AT - 1) + ["111"])
    assert revisions.report() == {}
    revisions.record(["110"])
    assert revisions.report() == {"110": WARN_AT} and LIMIT > WARN_AT
    clock.advance(86_401)
    assert revisions.count("110") == 0 and revisions.report() == {}


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    url, stop = serve_in_thread(EbaySimulator(token_ttl_s=7200).app)
    yield url
    stop()


def test_user_tokens_are_fetched_and_refreshed_before_expiry(sim_url: str) -> None:
    clock = FakeClock()
    ch = channel(base_url=sim_url, token_url=f"{sim_url}/identity/v1/oauth2/token")
    tokens = EbayTokens(ch, user=True, clock=clock)

    async def run() -> None:
        with pytest.raises(TokenPending):
            tokens.require()  # none yet: a fetch starts in the background
        await asyncio.sleep(0.3)
        first = tokens.require()
        assert tokens.fetches == 1
        clock.advance(7200 - REFRESH_MARGIN_S - 1)
        assert tokens.require() == first and tokens.fetches == 1  # not due yet
        clock.advance(2)
        assert tokens.require() == first  # due: still usable, refreshed in the background
        await asyncio.sleep(0.3)
        assert tokens.fetches == 2 and tokens.require() != first
        clock.advance(7200 - EXPIRY_MARGIN_S + 1)
        assert tokens.current() is None  # too close to expiry to send

    asyncio.run(run())


def test_a_wrong_refresh_token_is_refused_without_showing_it(sim_url: str) -> None:
    ch = channel(
        base_url=sim_url, token_url=f"{sim_url}/identity/v1/oauth2/token", refresh_token="v^1.1#WRONG"
    )
    with pytest.raises(TokenError) as caught:
        EbayTokens(ch, user=True).ensure_sync(2.0)
    assert "invalid_grant" in str(caught.value) and "WRONG" not in str(caught.value)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('verfication_token = "x"', "verfication_token"),
        ('endpoint_uri = "https://x"', "endpoint_uri"),
        ("max_batch = 26", "max_batch"),
        ('catalog_page_size = "many"', "catalog_page_size"),
    ],
)
def test_a_misspelt_or_mistyped_key_is_refused_naming_it(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "skusync.toml"
    path.write_text(f'[[channels]]\nid = "eb"\nkind = "ebay"\n{line}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == f"channels.eb.{key}"


def test_credentials_are_secrets() -> None:
    ch = channel()
    assert ch.client_secret.get_secret_value() == "sim-client-secret"  # type: ignore[attr-defined]
    text = repr(ch)
    assert "sim-client-secret" not in text and "sim-refresh" not in text and "verification-token" not in text
