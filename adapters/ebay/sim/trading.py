"""The simulator's Trading API: ``POST /ws/api.dll`` serving ``ReviseInventoryStatus`` and the
``GetMyeBaySelling`` active list, over listings made outside the Inventory API.

What it refuses, each rule with its source (page names under developer.ebay.com Devzone/XML/docs):
- a call without ``X-EBAY-API-CALL-NAME``, ``X-EBAY-API-SITEID`` or
  ``X-EBAY-API-COMPATIBILITY-LEVEL``, or without a live user token in ``X-EBAY-API-IAF-TOKEN``
  (make-a-call/using-xml.html: the headers; OAuth user tokens only, oauth-trad-apis.html);
- a body that is not XML, carries a DTD, is not ``<{CallName}Request>`` in eBay's namespace;
- more than 4 ``InventoryStatus``, the same listing twice, or one without a Quantity that is a
  non-negative integer (ReviseInventoryStatusRequestType; InventoryStatusType);
- per item: an unknown ItemID (17, "Item cannot be accessed": eBay's code for ReviseItem, the
  ebaysdk-python issue 76 capture), a listing made through the Inventory API (21919474: the code
  third-party integrations record for this refusal; eBay's pages state the rule, not the code), a
  SKU alone for a listing tracked by ItemID (InventoryStatusType);
- over the call budget: 518 (the usage-limit code; the simulator spends the daily quota as a bucket).
Whole-call refusals come as Ack Failure in HTTP 200 (Trading reports application errors in the
body; make-a-call/error-handling-app.html). Codes marked the simulator's own (9xxxx) are not eBay's.

A revise sets the available quantity (what shoppers can buy: the store's quantity); the echo's
``Quantity`` is that plus the units sold since the listing started, as eBay's is (InventoryStatusType).
An unchanged quantity is answered with warning 21917091 (KB 2161) and still applied.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from adapters.ebay.trading import NS, PER_CALL, parse_xml
from adapters.sim.core import Listing, SimulatedStore, TokenBucket

DAILY_CALLS = 5_000.0


def budget(daily_calls: float = DAILY_CALLS) -> TokenBucket:
    """The Trading API's daily quota spent as a bucket: a minute's worth of burst (at least one)."""
    return TokenBucket(max(1.0, daily_calls / 1_440), daily_calls / 86_400)


TOO_MANY, DUPLICATE, BAD_QUANTITY, BAD_REQUEST = 90001, 90002, 90003, 90004
"""The simulator's own codes (eBay's for these cases are unverified)."""
UNKNOWN_ITEM, INVENTORY_MODEL, THROTTLED, TOKEN, REDUNDANT = 17, 21919474, 518, 21916984, 21917091
PAGE_MAX = 200
"""GetMyeBaySelling EntriesPerPage's maximum (PaginationType)."""


def _el(parent: ET.Element, name: str, text: object | None = None) -> ET.Element:
    node = ET.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        node.text = str(text)
    return node


def _error(
    root: ET.Element, code: int, message: str, severity: str = "Error", param: str | None = None
) -> None:
    node = _el(root, "Errors")
    _el(node, "ShortMessage", message[:60])
    _el(node, "LongMessage", message)
    _el(node, "ErrorCode", code)
    _el(node, "SeverityCode", severity)
    if param is not None:
        _el(node, "ErrorParameters", None).set("ParamID", "0")
        _el(node.findall(f"{{{NS}}}ErrorParameters")[-1], "Value", param)
    _el(node, "ErrorClassification", "RequestError")


def _answer(call: str, ack: str, fill: Any = None) -> Response:
    root = ET.Element(f"{{{NS}}}{call}Response")
    _el(root, "Ack", ack)
    if fill is not None:
        fill(root)
    ET.register_namespace("", NS)
    return Response(ET.tostring(root, encoding="utf-8", xml_declaration=True), media_type="text/xml")


def refusal(call: str, code: int, message: str) -> Response:
    return _answer(call or "Generic", "Failure", lambda root: _error(root, code, message))


class TradingListings:
    """Listings made outside the Inventory API: each a store listing (so shoppers buy from it and
    sales notify its ItemID) plus what eBay counts on it, the quantity listed since it started."""

    def __init__(self, store: SimulatedStore) -> None:
        self.store = store
        self.total: dict[str, int] = {}
        """ItemID -> Quantity as eBay echoes it: available plus sold."""
        self.calls: list[bytes] = []
        """Every ReviseInventoryStatus body, for tests."""

    def seed(self, items: list[dict[str, Any]], next_id: Any) -> dict[str, dict[str, Any]]:
        listings = []
        for item in items:
            item_id = str(item.get("item_id") or next_id())
            ids = {"trading": {"item_id": item_id, "sku": item.get("ebay_sku")}, "listings": [item_id]}
            ids["tracking"] = "SKU" if item.get("ebay_sku") else "ItemID"
            listings.append(Listing(str(item["sku"]), int(item["quantity"]), ids))
            self.total[item_id] = int(item["quantity"])
        self.store.seed(listings, reset=False)
        return {x.sku: x.ids for x in listings}

    def by_item(self) -> dict[str, Listing]:
        with self.store.lock:
            return {x.ids["listings"][0]: x for x in self.store.listings.values()}


async def handle(sim: Any, request: Request) -> Response:
    """One Trading call: headers, token and budget first, then the call named."""
    call = request.headers.get("x-ebay-api-call-name", "")
    for header in ("x-ebay-api-call-name", "x-ebay-api-siteid", "x-ebay-api-compatibility-level"):
        if not request.headers.get(header, "").strip():
            return refusal(call, BAD_REQUEST, f"header {header.upper()} is required")
    token = request.headers.get("x-ebay-api-iaf-token", "")
    if sim.user_tokens.get(token, 0.0) <= sim.store.clock():
        return refusal(call, TOKEN, "Invalid IAF token.")
    legacy: TradingListings = sim.trading
    if not sim.buckets["trading"].take(1):
        sim.store.count("throttled")
        return refusal(call, THROTTLED, "Your application has exceeded usage limit on this call.")
    raw = await request.body()
    try:
        root = parse_xml(raw)
    except ValueError as exc:
        return refusal(call, BAD_REQUEST, str(exc))
    if root.tag != f"{{{NS}}}{call}Request":
        return refusal(call, BAD_REQUEST, f"the body is not a {call}Request in {NS}")
    if call == "ReviseInventoryStatus":
        legacy.calls.append(raw)
        return revise(legacy, root)
    if call == "GetMyeBaySelling":
        return selling(legacy, root)
    return refusal(call, BAD_REQUEST, f"unsupported call {call!r}")


def _statuses(root: ET.Element) -> list[tuple[str, str, int]] | str:
    """(ItemID, SKU, Quantity) per InventoryStatus, or why the whole call is refused."""
    nodes = root.findall(f"{{{NS}}}InventoryStatus")
    if not 1 <= len(nodes) <= PER_CALL:
        return f"1 to {PER_CALL} InventoryStatus containers per call, got {len(nodes)}"
    out: list[tuple[str, str, int]] = []
    for node in nodes:
        item_id = (node.findtext(f"{{{NS}}}ItemID") or "").strip()
        sku = node.findtext(f"{{{NS}}}SKU") or ""
        quantity = (node.findtext(f"{{{NS}}}Quantity") or "").strip()
        if not quantity.isdigit():
            return f"Quantity must be a non-negative integer, got {quantity!r}"
        if not item_id and not sku:
            return "each InventoryStatus needs an ItemID or a SKU"
        if any((i, s) == (item_id, sku) for i, s, _ in out):
            return f"listing {item_id or sku} twice in one call"
        out.append((item_id, sku, int(quantity)))
    return out


def _find(legacy: TradingListings, item_id: str, sku: str) -> tuple[Listing | None, int]:
    """The listing an InventoryStatus names, or None with the error code."""
    if item_id:
        listing = legacy.by_item().get(item_id)
    else:  # SKU alone works only for a listing tracked by SKU (InventoryStatusType)
        found = [x for x in legacy.by_item().values() if x.ids.get("tracking") == "SKU"]
        listing = next((x for x in found if x.ids["trading"]["sku"] == sku), None)
    if listing is None:
        return None, UNKNOWN_ITEM
    if "trading" not in listing.ids:
        return None, INVENTORY_MODEL
    if sku and sku != (listing.ids["trading"].get("sku") or ""):
        return None, UNKNOWN_ITEM
    return listing, 0


def revise(legacy: TradingListings, root: ET.Element) -> Response:
    parsed = _statuses(root)
    if isinstance(parsed, str):
        return refusal("ReviseInventoryStatus", TOO_MANY if "containers" in parsed else BAD_QUANTITY, parsed)
    errors: list[tuple[int, str, str, str]] = []
    echoes: list[tuple[str, str, int]] = []
    store = legacy.store
    for item_id, sku, quantity in parsed:
        listing, code = _find(legacy, item_id, sku)
        if listing is None:
            why = (
                "Item cannot be accessed."
                if code == UNKNOWN_ITEM
                else "Inventory-based listing: use the Inventory API."
            )
            errors.append((code, why, "Error", item_id or sku))
            continue
        listed_id = listing.ids["listings"][0]
        with store.lock:  # sold and the new quantity read and written as one step against shoppers
            sold = max(0, legacy.total.get(listed_id, listing.quantity) - listing.quantity)
            if quantity == listing.quantity:
                errors.append((REDUNDANT, "Requested Quantity revision is redundant.", "Warning", listed_id))
            listing.quantity = quantity
            store.received.append((store.clock(), listing.sku, quantity))
            legacy.total[listed_id] = quantity + sold
        echoes.append((listed_id, listing.ids["trading"].get("sku") or "", quantity + sold))
    failed = any(sev == "Error" for _, _, sev, _ in errors)
    ack = ("PartialFailure" if echoes else "Failure") if failed else ("Warning" if errors else "Success")

    def fill(out: ET.Element) -> None:
        for code, why, severity, param in errors:
            _error(out, code, why, severity, param)
        for item_id, sku, total in echoes:
            node = _el(out, "InventoryStatus")
            _el(node, "SKU", sku)
            _el(node, "Quantity", total)
            _el(node, "ItemID", item_id)

    return _answer("ReviseInventoryStatus", ack, fill)


def selling(legacy: TradingListings, root: ET.Element) -> Response:
    """The ActiveList page asked for: ItemID, SKU, Quantity (available plus sold) and
    QuantityAvailable of every active listing (Inventory API listings too, as on eBay)."""
    active = root.find(f"{{{NS}}}ActiveList")
    page = active.find(f"{{{NS}}}Pagination") if active is not None else None
    size = (page.findtext(f"{{{NS}}}EntriesPerPage") or "25") if page is not None else "25"
    number = (page.findtext(f"{{{NS}}}PageNumber") or "1") if page is not None else "1"
    if active is None or not size.isdigit() or not number.isdigit() or not 1 <= int(size) <= PAGE_MAX:
        return refusal("GetMyeBaySelling", BAD_REQUEST, f"ActiveList with EntriesPerPage 1..{PAGE_MAX}")
    rows = sorted(legacy.by_item().items())
    n, first = int(size), (max(1, int(number)) - 1) * int(size)

    def fill(out: ET.Element) -> None:
        node = _el(out, "ActiveList")
        items = _el(node, "ItemArray")
        for item_id, listing in rows[first : first + n]:
            item = _el(items, "Item")
            _el(item, "ItemID", item_id)
            sku = (listing.ids.get("trading") or {}).get("sku")
            if sku:
                _el(item, "SKU", sku)
            _el(item, "Quantity", legacy.total.get(item_id, listing.quantity))
            _el(item, "QuantityAvailable", listing.quantity)
        result = _el(node, "PaginationResult")
        _el(result, "TotalNumberOfPages", max(1, -(-len(rows) // n)))
        _el(result, "TotalNumberOfEntries", len(rows))

    return _answer("GetMyeBaySelling", "Success", fill)
