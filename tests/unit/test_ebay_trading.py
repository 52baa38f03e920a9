"""eBay Trading ReviseInventoryStatus: the XML request (headers, namespace, ItemID and escaped SKU,
the target sent as the available quantity), its answers (Success with eBay's available-plus-sold
echo, Warning, PartialFailure with one bad listing, Failure, call-limit and system errors, a DTD
refused), how pending SKUs are split between the two APIs, the Trading lane's own daily budget, and
the channel key naming the listings."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import ListingUpdate
from adapters.ebay import selling, trading
from adapters.ebay.oauth import EbayTokens
from adapters.ebay.outbound import PATH, EbayOutbound
from adapters.ebay.revisions import Revisions
from adapters.ebay.trading import NS, CallBudget
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
    "trading_listings": {"L1": "110001", "L2": "110002", "V1": ["110003", "TEE&CO <RED/M>"]},
}


def channel(**over: Any) -> ChannelConfig:
    return ChannelConfig(id="ebay-us", kind="ebay", **{**KEYS, **over})


def adapter(clock: FakeClock | None = None, **over: Any) -> EbayOutbound:
    clock = clock or FakeClock()
    out = EbayOutbound(clock=clock).for_channel(channel(**over))
    tokens = EbayTokens(channel(), user=True, clock=clock)
    tokens.token, tokens.expires_at = "tok-1", clock() + 7200
    revisions = Revisions(clock=clock)
    budget = CallBudget(float(over.get("trading_daily_calls", trading.DAILY_CALLS)), clock)
    return EbayOutbound(
        **{**out.__dict__, "tokens": tokens, "revisions": revisions, "trading_budget": budget}
    )


def legacy(sku: str, qty: int, item_id: str, ebay_sku: str | None = None) -> ListingUpdate:
    ids = trading.catalog_ids(trading.TradingListing(item_id, ebay_sku))
    return ListingUpdate(sku, qty, 1, ids)


def bulk(sku: str, qty: int) -> ListingUpdate:
    return ListingUpdate(sku, qty, 1, {"offers": [f"O-{sku}"], "listings": [f"9{len(sku)}"]})


def xml_answer(request: httpx.Request, ack: str, inner: str = "", status: int = 200) -> httpx.Response:
    body = f'<?xml version="1.0"?><ReviseInventoryStatusResponse xmlns="{NS}"><Ack>{ack}</Ack>{inner}'
    return httpx.Response(
        status, content=(body + "</ReviseInventoryStatusResponse>").encode(), request=request
    )


def echo(item_id: str, quantity: int, sku: str = "") -> str:
    inner = f"<SKU>{sku}</SKU><Quantity>{quantity}</Quantity><ItemID>{item_id}</ItemID>"
    return f"<InventoryStatus>{inner}</InventoryStatus>"


def error(
    code: str, message: str, item_id: str | None = None, severity: str = "Error", cls: str = "RequestError"
) -> str:
    param = f'<ErrorParameters ParamID="0"><Value>{item_id}</Value></ErrorParameters>' if item_id else ""
    return (
        f"<Errors><ShortMessage>{message}</ShortMessage><LongMessage>{message}</LongMessage><ErrorCode>{code}</ErrorCode>"
        f"<SeverityCode>{severity}</SeverityCode>{param}<ErrorClassification>{cls}</ErrorClassification></Errors>"
    )


def test_the_request_is_eBay_xml_with_the_target_as_the_available_quantity() -> None:
    updates = [
        legacy("L1", 7, "110001"),
        legacy("V1", 0, "110003", "TEE&CO <RED/M>"),
        legacy("L2", -2, "110002"),
    ]
    request = adapter().build(channel(), updates)
    assert request.method == "POST" and str(request.url) == "https://api.ebay.com/ws/api.dll"
    assert request.headers["x-ebay-api-call-name"] == "ReviseInventoryStatus"
    assert request.headers["x-ebay-api-siteid"] == "0"
    assert request.headers["x-ebay-api-compatibility-level"] == str(trading.COMPATIBILITY_LEVEL)
    assert request.headers["x-ebay-api-iaf-token"] == "tok-1" and "authorization" not in request.headers
    assert b"TEE&amp;CO &lt;RED/M&gt;" in request.content  # escaped, not raw markup
    root = ET.fromstring(request.content)
    assert root.tag == f"{{{NS}}}ReviseInventoryStatusRequest"
    sent = [
        (s.findtext(f"{{{NS}}}ItemID"), s.findtext(f"{{{NS}}}SKU"), s.findtext(f"{{{NS}}}Quantity"))
        for s in root.findall(f"{{{NS}}}InventoryStatus")
    ]
    assert sent == [("110001", None, "7"), ("110003", "TEE&CO <RED/M>", "0"), ("110002", None, "0")]
    moved_to = channel(
        trading_url="https://trading.example/", trading_site_id=77, trading_compatibility_level=1399
    )
    moved = adapter().build(moved_to, [legacy("L1", 1, "110001")])
    assert str(moved.url) == "https://trading.example/ws/api.dll"
    assert (moved.headers["x-ebay-api-siteid"], moved.headers["x-ebay-api-compatibility-level"]) == (
        "77",
        "1399",
    )


def test_a_call_carries_one_to_four_listings_of_one_api_never_one_twice() -> None:
    out = adapter()
    five = [legacy(f"S{n}", 1, f"11000{n}") for n in range(5)]
    with pytest.raises(ValueError, match=r"1\.\.4"):
        out.build(channel(), five)
    with pytest.raises(ValueError, match="not both"):
        out.build(channel(), [legacy("L1", 1, "110001"), bulk("B", 1)])
    with pytest.raises(ValueError, match="twice"):
        out.build(channel(), [legacy("L1", 1, "110001"), legacy("L1b", 2, "110001")])
    assert out.build(channel(), [bulk("B", 1)]).url.path == PATH  # Inventory API SKUs as before


def test_success_is_judged_by_the_echo_not_by_its_quantity() -> None:
    out = adapter()
    updates = [legacy("L1", 10, "110001"), legacy("L2", 3, "110002")]
    request = out.build(channel(), updates)
    # eBay echoes available plus sold: 10 sent with 8 sold comes back as 18 (InventoryStatusType).
    result = out.parse(xml_answer(request, "Success", echo("110001", 18) + echo("110002", 3)), updates)
    assert result.ok == ["L1", "L2"] and not result.failed and not result.retry
    assert out.revisions is not None and out.revisions.count("110001") == 1


def test_a_warning_does_not_fail_the_sku() -> None:
    out = adapter()
    updates = [legacy("L1", 5, "110001")]
    request = out.build(channel(), updates)
    redundant = error("21917091", "Requested Quantity revision is redundant.", "110001", "Warning")
    assert out.parse(xml_answer(request, "Warning", redundant + echo("110001", 5)), updates).ok == ["L1"]
    assert out.parse(xml_answer(request, "Warning", redundant), updates).ok == ["L1"]  # no echo


def test_a_partial_failure_fails_only_the_listing_it_names() -> None:
    out = adapter()
    updates = [
        legacy("L1", 5, "110001"),
        legacy("L2", 6, "110002"),
        legacy("V1", 1, "110003", "TEE&CO <RED/M>"),
    ]
    request = out.build(channel(), updates)
    ended = error("21916750", 'You are not allowed to revise an ended item "110002".', "110002")
    inner = ended + echo("110001", 5) + echo("110003", 4, "TEE&amp;CO &lt;RED/M&gt;")
    result = out.parse(xml_answer(request, "PartialFailure", inner), updates)
    assert result.ok == ["L1", "V1"] and list(result.failed) == ["L2"] and "21916750" in result.failed["L2"]
    unsaid = out.parse(xml_answer(request, "PartialFailure", ended + echo("110001", 5)), updates)
    assert unsaid.retry == ["V1"]  # not echoed, not named: eBay did not say it was written


def test_a_failure_of_the_whole_call_fails_every_sku_and_system_errors_retry() -> None:
    out = adapter()
    updates = [legacy("L1", 5, "110001"), legacy("L2", 6, "110002")]
    request = out.build(channel(), updates)
    refused = out.parse(xml_answer(request, "Failure", error("90001", "too many")), updates)
    assert set(refused.failed) == {"L1", "L2"} and refused.failed["L1"] == "90001: too many"
    system = out.parse(xml_answer(request, "Failure", error("10007", "System error.")), updates)
    assert system.retry == ["L1", "L2"] and not system.failed
    classified = error("123", "database down", "110002", cls="SystemError")
    mixed = out.parse(xml_answer(request, "PartialFailure", classified + echo("110001", 5)), updates)
    assert mixed.ok == ["L1"] and mixed.retry == ["L2"]
    assert out.parse(xml_answer(request, "", status=503), updates).retry == ["L1", "L2"]
    assert out.parse(xml_answer(request, "", status=400), updates).failed.keys() == {"L1", "L2"}


def test_a_call_limit_holds_back_the_trading_lane_only() -> None:
    clock = FakeClock()
    out = adapter(clock)
    updates = [legacy("L1", 5, "110001")]
    request = out.build(channel(), updates)
    limited = out.parse(xml_answer(request, "Failure", error("518", "usage limit")), updates)
    assert limited.requeue == ["L1"] and not limited.retry and limited.retry_after_s is None
    pending = [legacy("L1", 5, "110001"), bulk("B1", 2)]
    assert out.group(pending) == [[pending[1]]]  # the Inventory API lane goes on
    assert out.group(pending[:1]) == [[]]  # nothing to send: the actor idles and asks again
    waiting = [legacy(f"W{n}", 1, f"12000{n}") for n in range(3)] + [bulk("B2", 1)]
    assert len(waiting) <= out.max_batch and out.group(waiting) == [[waiting[-1]]]  # not held behind
    clock.advance(86_400 / trading.DAILY_CALLS + 0.01)  # one call's worth refilled
    assert out.group(pending)[0] == [pending[0]]


def test_a_refused_token_is_dropped_and_the_skus_retried() -> None:
    out = adapter()
    updates = [legacy("L1", 5, "110001")]
    request = out.build(channel(), updates)
    result = out.parse(xml_answer(request, "Failure", error("21916984", "Invalid IAF token.")), updates)
    assert result.retry == ["L1"] and out.tokens is not None and out.tokens.token is None


def test_an_answer_with_a_dtd_is_not_parsed() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>'
    with pytest.raises(ValueError, match="DTD"):
        trading.parse_xml(bomb)
    out = adapter()
    updates = [legacy("L1", 5, "110001")]
    request = out.build(channel(), updates)
    assert out.parse(httpx.Response(200, content=bomb, request=request), updates).retry == ["L1"]


def test_pending_skus_go_to_their_own_api_first_kind_first() -> None:
    out = adapter(max_batch=2)
    assert (out.max_batch, out.per_call) == (4 + 3, 2)  # a call's worth, and a look past 3 listings
    legacy_skus = [legacy(f"L{n}", n, f"11000{n}") for n in range(6)]
    bulk_skus = [bulk(f"B{n}", n) for n in range(3)]
    groups = out.group([bulk_skus[0], *legacy_skus, *bulk_skus[1:]])
    assert [[u.sku for u in g] for g in groups] == [["B0", "B1"], ["B2"]]
    groups = out.group([legacy_skus[0], *bulk_skus, *legacy_skus[1:]])
    assert [[u.sku for u in g] for g in groups] == [
        ["L0", "L1", "L2", "L3"], ["L4", "L5"], ["B0", "B1"], ["B2"],
    ]  # fmt: skip
    assert [u.sku for u in out.group([legacy_skus[0], bulk_skus[0]])[0]] == ["L0"]
    plain = EbayOutbound().for_channel(channel(trading_listings=None))
    assert plain.max_batch == 1 and plain.trading_budget is None
    assert plain.group([bulk("B", 1), bulk("C", 1)]) == [[bulk("B", 1)], [bulk("C", 1)]]


def skus(updates: list[ListingUpdate]) -> list[str]:
    return [u.sku for u in updates]


def test_each_trading_call_sent_is_paid_once() -> None:
    clock = FakeClock()
    out = adapter(clock, trading_daily_calls=1_440)  # one call a minute, one saved up
    pending = [legacy("L0", 1, "110000"), legacy("L1", 1, "110001"), bulk("B0", 1)]
    first = out.group(pending)[0]
    assert skus(first) == ["L0", "L1"]
    assert out.group(pending)[0] == first  # asked again before sending it: the same paid call
    later = [legacy("L2", 1, "110002"), bulk("B0", 1)]  # L0 and L1 went out (in flight)
    assert skus(out.group(later)[0]) == ["B0"]  # a second call is not paid for yet
    clock.advance(61)
    offered = out.group(later)[0]
    assert skus(offered) == ["L2"]
    out.build(channel(), offered)
    assert skus(out.group(later)[0]) == ["B0"]  # built: the next Trading call pays anew


def test_the_trading_budget_spends_the_daily_calls_apart() -> None:
    clock = FakeClock()
    budget = CallBudget(1_440.0, clock)  # one a minute, a minute's worth (1) saved up
    assert budget.available() == 1.0
    budget.take()
    assert budget.available() == 0.0
    clock.advance(30)
    assert budget.available() == pytest.approx(0.5)
    budget.drain()
    assert budget.available() == pytest.approx(0.0)


@pytest.mark.parametrize(
    "line",
    [
        'trading_listings = { "L1" = "1100-1" }',
        'trading_listings = { "L1" = 110001 }',
        "trading_daily_calls = 0",
    ],
)
def test_a_bad_trading_key_is_refused_naming_it(tmp_path: Path, line: str) -> None:
    path = tmp_path / "skusync.toml"
    path.write_text(f'[[channels]]\nid = "eb"\nkind = "ebay"\n{line}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key.startswith("channels.eb.trading_")


def selling_page(items: list[tuple[str, int]], pages: int, ack: str = "Success", inner: str = "") -> bytes:
    rows = "".join(
        f"<Item><ItemID>{i}</ItemID><QuantityAvailable>{q}</QuantityAvailable></Item>" for i, q in items
    )
    result = f"<PaginationResult><TotalNumberOfPages>{pages}</TotalNumberOfPages></PaginationResult>"
    active = f"<ActiveList><ItemArray>{rows}</ItemArray>{result}</ActiveList>"
    tag = "GetMyeBaySellingResponse"
    return f'<{tag} xmlns="{NS}"><Ack>{ack}</Ack>{inner}{active}</{tag}>'.encode()


def test_trading_listings_are_read_from_the_active_list_page_by_page() -> None:
    answers = [
        selling_page([], 0, "Failure", error("518", "usage limit")),  # a call limit: waited out
        selling_page([("110001", 4), ("999", 7)], 2),  # 999 is not ours
        selling_page([("110002", 0), ("110003", 9)], 2),  # 110003 is a variation: not read
    ]
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 7200})
        assert request.headers["x-ebay-api-call-name"] == "GetMyeBaySelling"
        seen.append(request.content)
        return httpx.Response(200, content=answers[len(seen) - 1])

    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    async def read() -> list[dict[str, int]]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return [page async for page in selling.listed(client, channel(client_id="sel"), sleep=sleep)]

    assert asyncio.run(read()) == [{"L1": 4}, {"L2": 0}]
    pages = [ET.fromstring(b).findtext(f".//{{{NS}}}PageNumber") for b in seen]
    assert pages == ["1", "1", "2"] and len(waits) == 1
