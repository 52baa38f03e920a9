"""What the channel's Trading listings show buyers, read with Trading ``GetMyeBaySelling``.

Reconciliation reads Inventory API listings through the Inventory API, which does not see listings
made elsewhere; their available quantity comes from ``GetMyeBaySelling``'s ``ActiveList``,
``QuantityAvailable`` per item (InventoryStatusType points there: "see QuantityAvailable in
GetMyeBaySelling"), 200 items a page (PaginationType's maximum), so a page costs one Trading call
however many listings it covers (a ``GetItem`` per listing would spend the daily quota quickly).
Only listings named by ItemID alone are read: one named with eBay's SKU may be a variation, whose
quantity sits deeper (unverified element path), so it is left out of the listed quantities and
reconciliation compares nothing for it rather than a wrong number.

Retries as the other reads do (``adapters.authorized_get``): a refused token once with a fresh one,
a call limit, a system error, 429, 5xx or a transport error with a backoff, up to ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from adapters.authorized_get import Before, nothing
from adapters.ebay import oauth, trading
from adapters.ebay.trading import NS
from adapters.http_retry import backoff
from adapters.reading import ReadError
from engine.config import ChannelConfig

CALL = "GetMyeBaySelling"
PAGE = 200


def request_body(page: int, size: int = PAGE) -> bytes:
    root = ET.Element(f"{{{NS}}}{CALL}Request")
    active = ET.SubElement(root, f"{{{NS}}}ActiveList")
    ET.SubElement(active, f"{{{NS}}}Include").text = "true"
    pagination = ET.SubElement(active, f"{{{NS}}}Pagination")
    ET.SubElement(pagination, f"{{{NS}}}EntriesPerPage").text = str(size)
    ET.SubElement(pagination, f"{{{NS}}}PageNumber").text = str(page)
    ET.register_namespace("", NS)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def read_page(root: ET.Element) -> tuple[dict[str, int], int]:
    """ItemID -> QuantityAvailable on the page, and the number of pages."""
    active = root.find(f"{{{NS}}}ActiveList")
    if active is None:
        return {}, 0
    found: dict[str, int] = {}
    for item in active.iterfind(f"{{{NS}}}ItemArray/{{{NS}}}Item"):
        item_id = (item.findtext(f"{{{NS}}}ItemID") or "").strip()
        available = (item.findtext(f"{{{NS}}}QuantityAvailable") or "").strip()
        if item_id and available.isdigit():
            found[item_id] = int(available)
    pages = (active.findtext(f"{{{NS}}}PaginationResult/{{{NS}}}TotalNumberOfPages") or "0").strip()
    return found, int(pages) if pages.isdigit() else 0


async def _call(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    body: bytes,
    before: Before,
    sleep: Callable[[float], Awaitable[None]],
    max_attempts: int,
) -> ET.Element:
    tokens, refreshed = oauth.tokens_for(channel), False
    for attempt in range(max_attempts):
        await before()
        token = await tokens.ensure(client)
        try:
            sent = trading.headers(channel, token, CALL)
            response = await client.post(trading.url(channel), content=body, headers=sent)
        except httpx.TransportError:
            await sleep(backoff(attempt))
            continue
        if response.status_code == 429 or response.status_code >= 500:
            await sleep(backoff(attempt))
            continue
        if response.status_code != 200:
            raise ReadError(f"eBay {CALL} answered HTTP {response.status_code}")
        root = trading.parse_xml(response.content)
        answer = trading.answer_of(root)
        codes = {e.code for e in answer.errors if e.severity != "Warning"}
        if codes & trading.TOKEN_CODES and not refreshed:
            tokens.forget(token)
            refreshed = True
        elif codes & (trading.THROTTLE_CODES | trading.SYSTEM_CODES):
            await sleep(backoff(attempt))
        elif answer.ack in ("Success", "Warning"):
            return root
        else:
            raise ReadError(f"eBay {CALL} failed: {sorted(codes)}")
    raise ReadError(f"gave up on eBay {CALL} after {max_attempts} attempts")


async def listed(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    *,
    before: Before = nothing,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_attempts: int = 10,
) -> AsyncIterator[dict[str, int]]:
    """Pages of SKU -> available quantity for the channel's Trading listings named by ItemID alone."""
    wanted = {v.item_id: sku for sku, v in trading.legacy_listings(channel).items() if not v.sku}
    page, pages = 1, 1
    while wanted and page <= pages:
        root = await _call(client, channel, request_body(page), before, sleep, max_attempts)
        found, pages = read_page(root)
        mine = {wanted[i]: q for i, q in found.items() if i in wanted}
        if mine:
            yield mine
        page += 1
