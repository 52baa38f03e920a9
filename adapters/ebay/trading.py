"""Trading API ``ReviseInventoryStatus``: quantities of listings not made through the Inventory API.

Which listings those are is the seller's word: the channel key ``trading_listings`` maps a SKU to
the listing's ItemID (``legacy_listings``, the one place that decides). eBay's Inventory API
cannot see such listings at all and its ``bulkUpdatePriceQuantity`` cannot revise them, while the
Trading API refuses listings made through the Inventory API ("Incompatibility with Inventory model
listings", developer.ebay.com Devzone/XML/docs/Reference/eBay/ReviseInventoryStatus.html). A key
was chosen over discovering them with ``GetMyeBaySelling``: the seller can read each ItemID off
Seller Hub, it spends none of the Trading API's small daily quota at every import, and a listing
the seller did not name is never revised by surprise.
The Trading API's calls are counted apart from the Inventory API's (``CallBudget``).

The call (same page; types ReviseInventoryStatusRequestType, InventoryStatusType): ``POST
<trading_url or base_url>/ws/api.dll`` (make-a-call/using-xml.html: the XML gateway) with headers
``X-EBAY-API-CALL-NAME``, ``X-EBAY-API-SITEID``, ``X-EBAY-API-COMPATIBILITY-LEVEL`` (always
required) and the OAuth user token in ``X-EBAY-API-IAF-TOKEN`` (required when no
``RequesterCredentials`` token is in the body; timotheus/ebaysdk-python ``trading.Connection``
sends the same four and then leaves ``RequesterCredentials`` out). Body
``<ReviseInventoryStatusRequest xmlns="urn:ebay:apis:eBLBaseComponents">`` with one to four
``<InventoryStatus><ItemID/>[<SKU/>]<Quantity/></InventoryStatus>``, never the same listing twice.

Addressing: by ItemID, InventoryTrackingMethod's default. A listing with variations, or one the
seller tracks by SKU, also needs eBay's SKU for it: the key's value is then ``[item_id, sku]``, and
both are sent (ItemID plus SKU identifies a variation; whether a SKU-tracked single listing accepts
the pair is unverified). Text goes through ElementTree, so ``&`` and ``<`` in SKUs are escaped.

Quantity: the request's ``Quantity`` is "the entire quantity that is currently available for
sale", while the answer's echo is that plus the quantity already sold (InventoryStatusType: sent
10 with 8 sold, the echo says 18). So the target goes as sent, and the echo is not compared with it.

Answers (AckCodeType; make-a-call/error-handling-app.html): ``Ack`` Success, Warning,
PartialFailure or Failure; ``Errors`` with ``ErrorCode``, ``SeverityCode`` (Error or Warning),
``ErrorClassification`` and ``ErrorParameters`` (the listing a per-item error is about, e.g.
21916750 "FixedPrice item ended" naming the ItemID in a captured answer, skuvault-integrations/
ebayAccess src/EbayAccessTests/Services/EbayServiceLowLevelTest.cs); an ``InventoryStatus`` echo
per revised listing. ``classify`` judges each SKU by its own errors and echo. Warnings (21917091:
the values were already set, KB 2161) do not fail a SKU.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.base import ListingUpdate, PushResult
from engine.config import ChannelConfig

NS = "urn:ebay:apis:eBLBaseComponents"
PATH = "/ws/api.dll"
CALL = "ReviseInventoryStatus"
PER_CALL = 4
"""InventoryStatus containers a call carries at most (ReviseInventoryStatusRequestType: "four")."""
COMPATIBILITY_LEVEL = 1451
"""The newest Trading API version the reference showed (2026); ``trading_compatibility_level``."""
DAILY_CALLS = 5_000
"""Trading API calls a day for keys without an Application Growth Check (developer.ebay.com
businessbenefits FAQ: "a maximum of 5,000 API calls per day"; more after the check:
``trading_daily_calls``)."""
THROTTLE_CODES = frozenset({"518", "18000", "218050", "21919144", "21919165"})
"""Call-limit errors (the Trading API error list as quoted in stackoverflow question 19109478:
usage limit on this call, daily request limit, per-user limits, "Maximum Call Limit Exceeded").
Unverified against eBay's own list, which the search corpus does not hold."""
SYSTEM_CODES = frozenset({"10007"})
"""eBay's side failed: retry (make-a-call/error-handling.html; KB 470: "retry on the 10007 error
code"). Any error classified ``SystemError`` is retried too (ErrorClassificationCodeType)."""
TOKEN_CODES = frozenset({"931", "21916984"})
"""The token was refused (931 "Auth token is invalid"; 21916984 "Invalid IAF token"): unverified
codes, so a fresh token is fetched and the SKUs retried, which is harmless if they mean otherwise."""


@dataclass(frozen=True)
class TradingListing:
    item_id: str
    sku: str | None = None
    """eBay's SKU for the listing or variation, sent with the ItemID when set."""


def legacy_listings(channel: ChannelConfig) -> dict[str, TradingListing]:
    """SKU -> the Trading listing it is pushed to, from ``trading_listings`` (``adapters.ebay.keys``)."""
    raw = getattr(channel, "trading_listings", None) or {}
    out = {}
    for sku, value in dict(raw).items():
        item_id, ebay_sku = (value, None) if isinstance(value, str) else (value[0], value[1])
        out[str(sku)] = TradingListing(str(item_id), ebay_sku)
    return out


def catalog_ids(listing: TradingListing) -> dict[str, Any]:
    """What the catalog keeps for a Trading SKU: its listing (for revisions and ORDER_CONFIRMATION's
    ``listingId``, which is the ItemID) and how to address it."""
    return {"trading": {"item_id": listing.item_id, "sku": listing.sku}, "listings": [listing.item_id]}


def listing_of(update: ListingUpdate) -> TradingListing | None:
    ref = update.ids.get("trading") if isinstance(update.ids, Mapping) else None
    if not isinstance(ref, Mapping) or not ref.get("item_id"):
        return None
    return TradingListing(str(ref["item_id"]), ref.get("sku"))


def url(channel: ChannelConfig) -> str:
    return f"{(getattr(channel, 'trading_url', None) or channel.base_url).rstrip('/')}{PATH}"


def headers(channel: ChannelConfig, token: str, call: str = CALL) -> dict[str, str]:
    level = getattr(channel, "trading_compatibility_level", None) or COMPATIBILITY_LEVEL
    return {
        "X-EBAY-API-CALL-NAME": call,
        "X-EBAY-API-SITEID": str(getattr(channel, "trading_site_id", None) or 0),
        "X-EBAY-API-COMPATIBILITY-LEVEL": str(level),
        "X-EBAY-API-IAF-TOKEN": token,
        "Content-Type": "text/xml; charset=utf-8",
    }


def body(updates: list[ListingUpdate]) -> bytes:
    """The request XML; raises ValueError unless 1..4 updates, each a Trading listing, none twice."""
    if not 1 <= len(updates) <= PER_CALL:
        raise ValueError(f"{CALL} carries 1..{PER_CALL} listings, not {len(updates)}")
    root = ET.Element(f"{{{NS}}}{CALL}Request")
    seen: set[tuple[str, str | None]] = set()
    for update in updates:
        listing = listing_of(update)
        if listing is None:
            raise ValueError(f"SKU {update.sku} has no Trading listing (trading_listings)")
        if (listing.item_id, listing.sku) in seen:
            raise ValueError(f"listing {listing.item_id} twice in one {CALL}")
        seen.add((listing.item_id, listing.sku))
        status = ET.SubElement(root, f"{{{NS}}}InventoryStatus")
        ET.SubElement(status, f"{{{NS}}}ItemID").text = listing.item_id
        if listing.sku:
            ET.SubElement(status, f"{{{NS}}}SKU").text = listing.sku
        ET.SubElement(status, f"{{{NS}}}Quantity").text = str(max(0, update.quantity))
    ET.register_namespace("", NS)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def request(channel: ChannelConfig, token: str, updates: list[ListingUpdate]) -> httpx.Request:
    return httpx.Request("POST", url(channel), content=body(updates), headers=headers(channel, token))


def is_trading(request: httpx.Request) -> bool:
    return request.url.path.endswith(PATH)


@dataclass(frozen=True)
class TradingError:
    code: str
    severity: str
    classification: str
    message: str
    params: tuple[str, ...]


@dataclass
class Answer:
    ack: str
    errors: list[TradingError] = field(default_factory=list)
    echoed: list[tuple[str, str]] = field(default_factory=list)
    """(ItemID, SKU) of every InventoryStatus echo (SKU "" when the listing has none)."""


def parse_xml(content: bytes) -> ET.Element:
    """The answer's root element. A DOCTYPE is refused before parsing: ElementTree resolves no
    external entities, but it does expand internal ones, so a DTD is how an entity bomb gets in,
    and neither eBay's answers nor the simulator's carry one. Raises ValueError."""
    head = content[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in content.lower():
        raise ValueError("refusing an XML answer with a DTD")
    try:
        return ET.fromstring(content)
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from None


def _text(node: ET.Element, name: str) -> str:
    return (node.findtext(f"{{{NS}}}{name}") or "").strip()


def read_answer(content: bytes) -> Answer:
    return answer_of(parse_xml(content))


def answer_of(root: ET.Element) -> Answer:
    answer = Answer(_text(root, "Ack"))
    for e in root.findall(f"{{{NS}}}Errors"):
        params = tuple(
            (p.findtext(f"{{{NS}}}Value") or "").strip() for p in e.findall(f"{{{NS}}}ErrorParameters")
        )
        message = _text(e, "LongMessage") or _text(e, "ShortMessage")
        answer.errors.append(
            TradingError(
                _text(e, "ErrorCode"),
                _text(e, "SeverityCode"),
                _text(e, "ErrorClassification"),
                message,
                params,
            )
        )
    for s in root.findall(f"{{{NS}}}InventoryStatus"):
        answer.echoed.append((_text(s, "ItemID"), _text(s, "SKU")))
    return answer


def _retryable(error: TradingError) -> bool:
    return error.code in SYSTEM_CODES or error.classification == "SystemError"


def _about(error: TradingError, listing: TradingListing) -> bool:
    return listing.item_id in error.params or bool(listing.sku and listing.sku in error.params)


def _echoed(answer: Answer, listing: TradingListing) -> bool:
    return any(i == listing.item_id and (not listing.sku or s == listing.sku) for i, s in answer.echoed)


def classify(answer: Answer, updates: list[ListingUpdate]) -> tuple[PushResult, str]:
    """Each SKU by its own errors and echo, and what the call as a whole said: ``"throttled"`` (a
    call-limit code: every SKU not echoed requeued, the caller holds the Trading lane back),
    ``"token"`` (refused token: retried with a fresh one) or ``""``.

    Per SKU: an error about its listing fails it (retried if eBay's side failed); an echo is ok;
    else a call-level error fails it (or retries it); else Success or Warning is ok; else
    (PartialFailure or Failure without a word about it) it is retried: eBay did not say it was written.
    """
    errors = [e for e in answer.errors if e.severity != "Warning"]
    codes = {e.code for e in errors}
    signal = "throttled" if codes & THROTTLE_CODES else "token" if codes & TOKEN_CODES else ""
    listings = [(u, listing_of(u) or TradingListing("")) for u in updates]
    general = [e for e in errors if not any(_about(e, listing) for _, listing in listings)]
    result = PushResult()
    for update, listing in listings:
        mine = [e for e in errors if _about(e, listing)]
        if _echoed(answer, listing) and not mine:
            result.ok.append(update.sku)
        elif signal == "throttled":
            result.requeue.append(update.sku)
        elif signal == "token" or any(_retryable(e) for e in mine or general):
            result.retry.append(update.sku)
        elif mine or general:
            first = (mine or general)[0]
            result.failed[update.sku] = f"{first.code}: {first.message}"[:200]
        elif answer.ack in ("Success", "Warning"):
            result.ok.append(update.sku)
        else:
            result.retry.append(update.sku)
    return result, signal


class CallBudget:
    """The Trading API's daily calls, spent apart from the Inventory API's (eBay counts a quota per
    API): ``per_day`` refilled evenly, at most a minute's worth (at least one call) saved up.
    ``take`` may go below zero (a call the lane had offered); ``drain`` after a call-limit error
    makes the lane wait for a refill. ``clock`` is injectable."""

    def __init__(self, per_day: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.capacity, self.clock = per_day / 86_400.0, max(1.0, per_day / 1_440.0), clock
        self.level, self.at = self.capacity, clock()

    def available(self) -> float:
        now = self.clock()
        self.level, self.at = min(self.capacity, self.level + max(0.0, now - self.at) * self.rate), now
        return self.level

    def take(self) -> None:
        self.level = self.available() - 1.0

    def drain(self) -> None:
        self.level = min(self.available(), 0.0)
