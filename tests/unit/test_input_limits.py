"""Input limits without a cluster (issue 21 items 7 and 8): the canonical models set bad lines
aside, ids the admin paths cannot name are refused, the ledger caps adjustments, a refused own
checkout leaves no claim, ASCII-only limits and relative trailing-slash redirects."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from actors.gateway.invalid_lines import with_invalid
from actors.gateway.parsing import Invalid, limit_param, sku_param
from actors.gateway.slashes import relative_slash_redirects
from engine.events import STOCK_CAP, OrderCancelled, OrderPlaced, OrderReserve
from engine.ledger import Ledger
from engine.routing import ShardMap
from engine.wire import set_aside
from tests.unit.test_two_phase import lines, setup

RULE = "must not contain '/' or control characters"
DOC = {"key": "k", "channel": "shop-us", "order_id": "1", "version": 5}


def doc(*items: tuple[str, int]) -> dict[str, Any]:
    return OrderPlaced(**DOC, lines=[{"sku": s, "quantity": q} for s, q in items]).model_dump(mode="json")


# -- the canonical models -------------------------------------------------------------------------
def test_a_delivery_without_bad_lines_keeps_its_wire_form() -> None:
    """Idempotency records hold fingerprints of this form: an ``invalid`` field would change them."""
    assert list(doc(("A", 1))) == ["key", "at", "channel", "order_id", "version", "lines", "kind"]
    cancel = OrderCancelled(**DOC, skus=["A"]).model_dump(mode="json")
    assert "invalid" not in cancel


def test_bad_lines_are_set_aside_with_their_reason_and_the_good_ones_kept() -> None:
    ev = doc(("A", 2), ("B", 1_000_001), ("C" * 201, 1), ("D/E", 1), ("F\x00", 1), ("G\x85", 1))
    assert ev["lines"] == [{"sku": "A", "quantity": 2, "kept": 0}]
    reasons = {bad["sku"]: bad["reason"] for bad in ev["invalid"]}
    assert reasons["B"] == "quantity: Input should be less than or equal to 1000000"
    assert reasons["C" * 200] == "sku: String should have at most 200 characters"  # cut for display
    assert {reasons["D/E"], reasons["F\x00"], reasons["G\x85"]} == {f"sku: Value error, {RULE}"}
    # the wire form validates again to itself (a backfill or a test may round-trip it)
    assert OrderPlaced.model_validate(ev).model_dump(mode="json") == ev


def test_no_valid_line_refuses_the_event_naming_the_first_bad_line() -> None:
    with pytest.raises(ValidationError) as exc:
        doc(("B", 1_000_001), ("D/E", 1))
    assert exc.value.errors()[0]["loc"] == ("lines", 0, "quantity")


@pytest.mark.parametrize("order_id", ["a/b", "a\x00b", "a\nb", "x" * 201])
def test_a_bad_order_id_refuses_the_whole_event(order_id: str) -> None:
    with pytest.raises(ValidationError):
        OrderPlaced(**{**DOC, "order_id": order_id}, lines=[{"sku": "A", "quantity": 1}])
    with pytest.raises(ValidationError):
        OrderCancelled(**{**DOC, "order_id": order_id}, skus=["A"])


def test_a_cancel_sets_bad_skus_aside() -> None:
    cancel = OrderCancelled(**DOC, skus=["A", "B/C"]).model_dump(mode="json")
    assert cancel["skus"] == ["A"] and cancel["invalid"] == [
        {"sku": "B/C", "reason": f"sku: Value error, {RULE}"}
    ]


def test_own_checkout_lines_stay_all_or_nothing() -> None:
    """An own checkout asks before it sells: a bad line refuses the request (422), never part of it."""
    with pytest.raises(ValidationError):
        OrderReserve(
            key="k", txn="t", channel="pos", order_id="1",
            lines=[{"sku": "A", "quantity": 1}, {"sku": "B/C", "quantity": 1}],
        )  # fmt: skip


def test_the_gateway_submits_events_without_their_bad_lines_and_answers_them_invalid() -> None:
    ev = doc(("A", 2), ("B", 1_000_001))
    events, flagged = set_aside([ev, doc(("A", 1))])
    assert "invalid" not in events[0] and "invalid" in ev  # the adapter's event is not changed
    assert [len(f) for f in flagged] == [1, 0]
    decided = {"key": "k", "outcome": "applied", "lines": [{"sku": "A", "outcome": "accepted"}]}
    shown = with_invalid(decided, flagged[0])
    assert shown["outcome"] == "mixed"
    assert [(ln["sku"], ln["outcome"]) for ln in shown["lines"]] == [("A", "accepted"), ("B", "invalid")]
    assert with_invalid(decided, flagged[1]) is decided


# -- the ledger -----------------------------------------------------------------------------------
def test_adjustments_cannot_climb_past_the_stock_cap() -> None:
    led = Ledger(ShardMap(2, vshards=16), clock=lambda: 0.0)

    def adjust(key: str, delta: int) -> dict[str, Any]:
        [decision] = led.process([{"kind": "stock_adjusted", "key": key, "sku": "A", "delta": delta}])
        return decision

    assert adjust("a1", STOCK_CAP)["outcome"] == "applied"
    for key, delta in (("a2", STOCK_CAP), ("a3", 1)):
        refused = adjust(key, delta)
        assert (refused["outcome"], refused["lines"][0]["outcome"]) == ("rejected", "over_cap")
    assert led.records["A"].on_hand == STOCK_CAP
    assert adjust("a4", -1)["outcome"] == "applied"
    assert adjust("a5", 1)["outcome"] == "applied"  # back to the cap, not past it


def test_a_refused_order_id_is_refused_again_for_stock_not_as_existing() -> None:
    led, tp, _, _ = setup({"A": 1})
    first = asyncio.run(tp.place("k1", "shop-us", "o1", lines(A=3)))
    again = asyncio.run(tp.place("k2", "shop-us", "o1", lines(A=3)))
    assert first.body["error"] == again.body["error"] == "insufficient_stock"
    led.process([{"kind": "stock_adjusted", "key": "restock", "sku": "A", "delta": 5}])
    assert asyncio.run(tp.place("k3", "shop-us", "o1", lines(A=3))).status == 201
    assert (led.records["A"].available, led.records["A"].reserved) == (3, 0)


def test_a_refused_order_id_does_not_make_a_marketplace_sale_a_duplicate() -> None:
    led, tp, _, _ = setup({"A": 2, "B": 2})
    assert asyncio.run(tp.place("k1", "shop-us", "o1", lines(A=1, B=9))).status == 409
    sale = {"kind": "order_placed", "key": "w1", "channel": "shop-us", "order_id": "o1", "version": 7}
    [decision] = led.process([{**sale, "lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}]}])
    assert [ln["outcome"] for ln in decision["lines"]] == ["accepted", "accepted"]
    assert (led.records["A"].available, led.records["B"].available) == (1, 1)
    [cancel] = led.process([{"kind": "order_cancelled", "key": "c1", "channel": "shop-us", "order_id": "o1",
                             "skus": ["A"], "version": 8}])  # fmt: skip
    assert cancel["lines"][0]["outcome"] == "returned" and led.records["A"].available == 2


# -- the admin edge -------------------------------------------------------------------------------
def request(query: str) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": query.encode()}
    )


@pytest.mark.parametrize("raw", ["%EF%BC%91", "%D9%A3", "%F0%9D%9F%99", "1%00", "0", "1001"])
def test_limit_takes_ascii_digits_only(raw: str) -> None:
    with pytest.raises(Invalid) as exc:
        limit_param(request(f"limit={raw}"))
    assert exc.value.status == 422
    assert limit_param(request("limit=1000")) == 1000


@pytest.mark.parametrize("sku", ["A/B", "A\x00", "A\x7f", "\x1b[2J", ""])
def test_sku_params_follow_the_engines_rule(sku: str) -> None:
    with pytest.raises(Invalid):
        sku_param(sku)
    assert sku_param("A-B_C.D é") == "A-B_C.D é"


def test_trailing_slash_redirects_are_relative_and_stay_on_this_host() -> None:
    app = Starlette(routes=[Route("/v1/orders", lambda r: PlainTextResponse("ok"))])
    relative_slash_redirects(app.router)

    async def get(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://evil.example") as client:
            return await client.get(path)

    r = asyncio.run(get("/v1/orders/?limit=5"))
    assert (r.status_code, r.headers["location"]) == (307, "/v1/orders?limit=5")
    assert asyncio.run(get("/v1/orders")).status_code == 200
    for path in ("/nowhere/", "//v1/orders/", "/"):
        assert asyncio.run(get(path)).status_code == 404, path
