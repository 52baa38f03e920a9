"""TikTok Shop outbound: Update Inventory grouped per product and capped per call, every request
signed as the Open API checks it, each SKU judged by ``data.errors[]`` even when ``code`` is 0,
throttles and credential errors retried; over loopback against the strict simulator; keys typed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import ValidationError

from adapters.base import ListingUpdate
from adapters.sim.core import serve_in_thread
from adapters.tiktok import api
from adapters.tiktok.outbound import TikTokOutbound, classify
from adapters.tiktok.signing import request_sign
from adapters.tiktok.sim import rules
from adapters.tiktok.sim.app import TikTokSimulator
from engine.channel_keys import keys_for
from engine.config import ChannelConfig

KEY, SECRET, CIPHER = "app-key", "app-secret", "ROW_sim-cipher"


def channel(url: str = "https://open-api.tiktokglobalshop.com", **extra: Any) -> ChannelConfig:
    keys = {"app_key": KEY, "app_secret": SECRET, "refresh_token": "sim-refresh-token", "shop_cipher": CIPHER}
    return ChannelConfig(
        id="tt", kind="tiktok", base_url=url, token_url=f"{url}/api/v2/token/refresh", **keys | extra
    )


def update(sku: str, qty: int, product: str = "P1", sku_id: str | None = None) -> ListingUpdate:
    return ListingUpdate(
        sku, qty, 1, {"product_id": product, "sku_id": sku_id or f"id-{sku}", "warehouse_id": "W1"}
    )


def adapter(**over: Any) -> TikTokOutbound:
    made = TikTokOutbound(**over)
    made.tokens = type("T", (), {"require": lambda self: "tok", "forget": lambda self, t: None})()  # type: ignore[assignment]
    return made


def answer(
    status: int, body: dict[str, Any], request: httpx.Request | None = None, **headers: str
) -> httpx.Response:
    req = request or httpx.Request("POST", "https://x/")
    return httpx.Response(status, content=orjson.dumps(body), headers=headers, request=req)


def test_updates_are_grouped_per_product_and_capped() -> None:
    ups = [update("a", 1, "P1"), update("b", 2, "P2"), update("c", 3, "P1"), update("d", 4, "P1")]
    groups = adapter(max_batch=2).group(ups)
    assert [[u.sku for u in g] for g in groups] == [["a", "c"], ["d"], ["b"]]
    with pytest.raises(ValueError, match="span 2 products"):
        adapter().build(channel(), ups[:2])
    with pytest.raises(ValueError, match=r"1\.\.2 SKUs"):
        adapter(max_batch=2).build(channel(), [ups[0], ups[2], ups[3]])


def test_a_request_is_the_documented_body_signed_as_the_api_checks() -> None:
    request = adapter().build(channel(), [update("a", 7), update("c", 0)])
    assert request.url.path == "/product/202309/products/P1/inventory/update"
    assert orjson.loads(request.content) == {
        "skus": [
            {"id": "id-a", "inventory": [{"warehouse_id": "W1", "quantity": 7}]},
            {"id": "id-c", "inventory": [{"warehouse_id": "W1", "quantity": 0}]},
        ]
    }
    query = dict(request.url.params)
    assert request.headers[api.TOKEN_HEADER] == "tok" and query["shop_cipher"] == CIPHER
    assert query["sign"] == request_sign(SECRET, request.url.path, query, request.content)
    refusal = rules.request_refusal(
        app_key=KEY,
        app_secret=SECRET,
        shop_cipher=CIPHER,
        method="POST",
        path=request.url.path,
        query=query,
        body=request.content,
        content_type=request.headers["content-type"],
        now=float(query["timestamp"]),
    )
    assert refusal is None
    tampered = {**query, "timestamp": str(int(query["timestamp"]) + 1)}
    assert rules.request_refusal(
        app_key=KEY,
        app_secret=SECRET,
        shop_cipher=CIPHER,
        method="POST",
        path=request.url.path,
        query=tampered,
        body=request.content,
        content_type="application/json",
        now=float(query["timestamp"]),
    ) == (401, rules.BAD_SIGN, "invalid sign")


def test_code_zero_with_errors_fails_only_the_skus_named() -> None:
    ups = [update("a", 1), update("b", 2), update("c", 3)]
    data = {"errors": [{"code": 12052217, "message": "sku not in product", "detail": {"sku_id": "id-b"}}]}
    result = adapter().parse(answer(200, {"code": 0, "message": "Success", "data": data}), ups)
    assert result.ok == ["a", "c"] and list(result.failed) == ["b"] and "12052217" in result.failed["b"]
    unnamed = classify({"errors": [{"code": 1, "message": "whole call"}]}, ups)
    assert unnamed.ok == [] and set(unnamed.failed) == {"a", "b", "c"}
    assert classify({}, ups).ok == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("status", "body", "headers", "pause"),
    [
        (429, {"code": rules.THROTTLED, "message": "Too many requests"}, {}, 1.0),
        (429, {"code": rules.THROTTLED}, {"Retry-After": "3"}, 3.0),
        (200, {"code": 36009004, "message": "Too many requests"}, {}, 1.0),
        (500, {"code": 36009500}, {}, None),
    ],
    ids=["429", "429-retry-after", "throttle-code", "5xx"],
)
def test_throttles_and_server_errors_retry_everything(
    status: int, body: dict[str, Any], headers: dict[str, str], pause: float | None
) -> None:
    result = adapter().parse(answer(status, body, **headers), [update("a", 1), update("b", 1)])
    assert result.retry == ["a", "b"] and result.retry_after_s == pause and not result.ok


def test_credential_errors_retry_and_other_refusals_fail() -> None:
    ups = [update("a", 1)]
    assert adapter().parse(answer(401, {"code": 105002}), ups).retry == ["a"]
    assert adapter().parse(answer(200, {"code": 36004004}), ups).retry == ["a"]
    failed = adapter().parse(answer(404, {"code": 12052700, "message": "product not found"}), ups).failed
    assert "product not found" in failed["a"]
    assert adapter().parse(
        httpx.Response(200, content=b"<html>", request=httpx.Request("POST", "https://x/")), ups
    ).retry == ["a"]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[TikTokSimulator, str]]:
    sim = TikTokSimulator(app_key=KEY, app_secret=SECRET, shop_cipher=CIPHER)
    url, stop = serve_in_thread(sim.app)
    yield sim, url
    stop()


def test_over_loopback_per_sku_errors_map_back_and_the_catalog_groups_products(
    served: tuple[TikTokSimulator, str],
) -> None:
    sim, url = served
    ch = channel(url)
    sim.seed(
        [{"sku": s, "quantity": 1, "product": "shirt"} for s in ("S", "M", "L")]
        + [{"sku": "X", "quantity": 4}]
    )

    async def run() -> tuple[dict[str, Any], Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            outbound = TikTokOutbound().for_channel(ch)
            catalog = await outbound.import_catalog(client, ch)
            await outbound.tokens.ensure(client)  # type: ignore[union-attr]
            ups = [ListingUpdate(s, q, 1, catalog[s]) for s, q in (("S", 5), ("M", 6), ("L", 7))]
            sim.refuse_skus = {catalog["M"]["sku_id"]}
            [group] = outbound.group(ups)
            response = await client.send(outbound.build(ch, group))
            return catalog, outbound.parse(response, group)

    catalog, result = asyncio.run(run())
    sim.refuse_skus = set()
    assert (
        len({catalog[s]["product_id"] for s in "SML"}) == 1
        and catalog["X"]["product_id"] != catalog["S"]["product_id"]
    )
    assert result.ok == ["S", "L"] and list(result.failed) == ["M"]
    assert sim.store.snapshot(lists=False)["listed"] == {"S": 5, "M": 1, "L": 7, "X": 4}


def test_keys_are_typed_and_a_misspelt_key_is_named() -> None:
    assert "app_key" in keys_for("tiktok").model_fields
    with pytest.raises(ValidationError, match="app_kye: unknown key"):
        channel(app_kye="x")
    with pytest.raises(ValidationError, match="max_batch"):
        channel(max_batch=101)
    assert channel().app_secret.get_secret_value() == SECRET  # type: ignore[attr-defined]
    assert SECRET not in repr(channel())
