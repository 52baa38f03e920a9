"""Shopify outbound: conditional absolute quantities through ``inventorySetQuantities``, the catalog
and the listings read back per location.

**API version.** Pinned per channel (extra ``api_version``, default ``DEFAULT_API_VERSION``, the
newest stable version in ``SUPPORTED_VERSIONS``). Shopify serves a version it no longer supports as
the oldest one it does, so an outdated pin silently changes the API under us; ``warnings`` names it
at start-up (``actors.runtime.ensure_channels``).

**Every write is conditional and idempotent** (mandatory from 2026-04; shopify.dev changelog "New
compare and swap syntax for the inventorySetQuantities mutation" and "Making idempotency mandatory
for inventory adjustments and refund mutations", both 2025-12-12, effective 2026-04):

- ``@idempotent(key:)`` on the mutation. The key (``idempotency_key``) is a UUID derived from the
  channel and, per SKU, its master version, compare-and-set round, expected and new quantity and
  ids: a retried request is byte for byte the same request with the same key, so Shopify applies
  it once and answers the original result again; any other request gets another key (Shopify
  refuses a key reused with other variables: ``IDEMPOTENCY_KEY_PARAMETER_MISMATCH``).
- ``changeFromQuantity`` on every quantity: what the engine believes the location lists
  (``ListingUpdate.expected``). Never the opt-out ``null``: with no belief at all, what the catalog
  import read, else 0 (any integer keeps the write conditional; a wrong guess costs one stale
  answer, whose re-read gives the belief). ``compareQuantity`` and ``ignoreCompareQuantity`` are
  removed from 2026-04.
- A mismatch answers the userError ``CHANGE_FROM_QUANTITY_STALE`` (enum
  ``InventorySetQuantitiesUserErrorCode``, 2026-01 onwards) and that item is not written.
  ``parse`` reports it in ``PushResult.stale``; the channel actor re-reads the listing
  (``read_listed``: ``nodes(ids:) { ... on InventoryItem { inventoryLevel(locationId:)
  { quantities(names: ["available"]) } } }``), folds in what the channel sold that master has not
  heard of, and sends a new request (``engine.channel_sync``).

*Unverified* (one function each, so a correction is one edit; the first three live in
``adapters.shopify.answers``): which item a userError names
(``item_index``: the ``field`` path ``["input", "quantities", i, ...]``, as for the other
per-quantity errors); which codes ask for a new request (``STALE_USER_ERRORS``: besides the stale
compare, the two idempotency-key refusals, one of them only documented from 2026-10); whether a
call with userErrors writes its other quantities (``applied``: a null ``inventoryAdjustmentGroup``
means it wrote nothing, so the others are sent again; otherwise they count as written); the cost of
a listing read (``level_read_cost``).

**Cost model** (``mutation_cost``): Shopify charges a GraphQL call its *requested* cost up front,
from a bucket of 1,000 points restored at 100 points/s on the Standard plan (200 Advanced, 1,000
Plus; ``default_rate`` is configurable and the channel's ``rate_limit`` overrides it). The
published cost table (shopify.dev, "GraphQL Admin API rate limits", section "Cost calculation")
charges by what fields *return*: scalar and enum 0, object 1, connection 2 plus the objects
returned, mutation 10; input arguments are not charged, so one ``inventorySetQuantities`` call
costs the same whether it carries 1 or 250 quantities. Hence ``10 + per_quantity * n`` with
``per_quantity`` defaulting to 0 (channel extra ``mutation_cost_per_quantity``, e.g. 1 to budget as
if each quantity cost a point, if a shop's ``actualQueryCost`` says so). Every answer carries
``extensions.cost.throttleStatus``, which ``parse`` hands back as the true budget, so a wrong
estimate costs a little pacing accuracy, never correctness. Input arrays are capped at 250 items
(shopify.dev "API limits"), hence ``max_batch=250``; a throttled call answers ``errors[{message:
"Throttled", extensions.code: THROTTLED}]`` (HTTP 200 as documented, 429 also accepted).

Channel extras: ``location_id`` (numeric or ``gid://shopify/Location/N``), ``api_version``,
``max_batch``, ``catalog_page_size``, ``mutation_cost_per_quantity``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from adapters.base import ListingUpdate, PushResult
from adapters.http_retry import backoff, retry_after
from adapters.shopify.admin import admin_api
from adapters.shopify.answers import (
    as_list,
    classify_errors,
    classify_payload,
    is_throttled,
    json_object,
    read_budget,
    refill_wait,
)
from engine.config import ChannelConfig

SUPPORTED_VERSIONS: tuple[str, ...] = ("2026-04", "2026-07", "2026-10")
"""Stable Admin API versions Shopify serves, oldest first, as of 2026-11-27. Sources:
../shared/MARKETPLACES.md (Shopify: "Versions 2026-04..2026-10 (2027-01 RC); an unsupported one is
served as the oldest supported"); shopify.dev "About Shopify API versioning" (a stable version each
quarter, each supported for at least 12 months; by that rule alone 2026-01 would be served until
2027-01-01: this table follows MARKETPLACES.md). Add a version when Shopify releases it, drop one
when Shopify retires it."""
RELEASE_CANDIDATE = "2027-01"
DEFAULT_API_VERSION = SUPPORTED_VERSIONS[-1]
VERSION_RE = re.compile(r"^\d{4}-(01|04|07|10)$")

SET_QUANTITIES = """mutation SetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) @idempotent(key: "%s") {
    inventoryAdjustmentGroup { reason changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}"""

VARIANTS = """query Variants($first: Int!, $after: String) {
  productVariants(first: $first, after: $after) {
    edges { node { id sku inventoryItem { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

VARIANTS_AT = """query Variants($first: Int!, $after: String, $location: ID!) {
  productVariants(first: $first, after: $after) {
    edges { node { id sku inventoryItem { id inventoryLevel(locationId: $location) {
      quantities(names: ["available"]) { name quantity } } } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

LEVELS = """query Levels($ids: [ID!]!, $location: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem { id inventoryLevel(locationId: $location) {
      quantities(names: ["available"]) { name quantity } } }
  }
}"""

KEY_NAMESPACE = uuid.UUID("6f0c5e4e-2b1d-5a4e-9a57-5b3d1c0e8f21")
"""Namespace of the idempotency keys (``uuid5``); any fixed value works, it must never change."""


class CatalogImportError(RuntimeError):
    """The catalog could not be read (refused credentials, a GraphQL error, retries exhausted)."""


MUTATION_COST = 10.0
"""Published cost of a mutation field (shopify.dev "GraphQL Admin API rate limits", cost table)."""
PER_QUANTITY_COST = 0.0
"""Published cost of each input quantity: none, the table charges returned fields, not arguments."""
LEVEL_READ_COST_PER_ITEM = 3.0
"""Estimated cost of one listing read back: the InventoryItem, its InventoryLevel and the one
``available`` quantity object, one point each by the published table (*unverified*: the shop's
``throttleStatus`` corrects the budget after each read)."""


def mutation_cost(n_quantities: int, per_quantity: float = PER_QUANTITY_COST) -> float:
    """Requested cost of one ``inventorySetQuantities`` call with ``n_quantities``: ``10 + per_quantity * n``.

    The selection set (one adjustment group, its changes, user errors) is not charged beyond the
    mutation's 10 in this model; a shop's ``requestedQueryCost`` corrects the budget if it differs.
    """
    return MUTATION_COST + per_quantity * n_quantities


def level_read_cost(n_items: int) -> float:
    """Requested cost of one ``nodes(ids:)`` read of ``n_items`` inventory levels (*unverified*)."""
    return max(1.0, LEVEL_READ_COST_PER_ITEM * n_items)


def catalog_page_cost(first: int) -> float:
    """Requested cost of one ``productVariants(first: n)`` page: connection 2 + one per node, at most.

    With the location's level nested in each node this undercounts (a few points per node); the
    shop's ``throttleStatus`` after each page paces the next one on the true figure."""
    return 2.0 + first


def gid(kind: str, value: Any) -> str:
    """Shopify's global id for ``value``, which may already be one or a bare number."""
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


def version_warnings(version: str) -> list[str]:
    """Why pinning ``version`` is a problem (empty when it is a supported stable version)."""
    newest = DEFAULT_API_VERSION
    if version == "unstable" or version == RELEASE_CANDIDATE:
        return [f"api_version {version} is not a stable version (newest stable: {newest})"]
    if not VERSION_RE.match(version):
        return [f"api_version {version!r} is not a Shopify API version (YYYY-01/04/07/10)"]
    oldest = SUPPORTED_VERSIONS[0]
    if version < oldest:
        return [
            f"api_version {version} is older than the oldest version Shopify still serves ({oldest}): "
            f'Shopify answers as {oldest} instead; set api_version = "{newest}"'
        ]
    if version > newest and version not in SUPPORTED_VERSIONS:
        return [f"api_version {version} is not released as stable yet (newest stable: {newest})"]
    return []


def change_from(update: ListingUpdate) -> int | None:
    """``changeFromQuantity`` for ``update``: what the listing is believed to hold.

    Without a belief, what the catalog import read there (the ``listed`` id), else 0. ``None``
    (Shopify's explicit opt-out of the check) only for a push of 0: the check protects a sale the
    channel made that master has not heard of from being overwritten by a higher number, and 0 is
    below every such listing, so it is right whatever the channel sold. It is also the push that
    matters most in a flash sale (a SKU master has run out of), and a conditional one failed, and
    took the rest of its call with it, whenever the channel's own shoppers were still buying it
    (248 units oversold on one store in the flash-sale benchmark). Otherwise never ``None``: a
    guess keeps the write conditional, and if it is wrong the stale answer's re-read gives the
    belief.
    """
    if update.quantity == 0:
        return None
    if update.expected is not None:
        return update.expected
    listed = update.ids.get("listed")
    return listed if type(listed) is int else 0


def idempotency_key(
    channel_id: str, quantities: Sequence[dict[str, Any]], updates: Sequence[ListingUpdate]
) -> str:
    """The ``@idempotent`` key of one request: a UUID (v5, as Shopify recommends UUIDs) of the
    channel and, per SKU, its master version and compare-and-set round with the quantity input.

    Derived, not drawn: a retried request (same SKUs, versions, rounds, values) gets the same key,
    so Shopify applies it at most once and answers the original result again; a request after a
    stale answer is a new round, hence a new key, as the stale code's documentation asks.
    """
    parts = sorted(
        orjson.dumps([u.sku, u.version, u.round, q], option=orjson.OPT_SORT_KEYS).decode()
        for u, q in zip(updates, quantities, strict=True)
    )
    return str(uuid.uuid5(KEY_NAMESPACE, "\n".join([channel_id, *parts])))


def available_of(level: Any) -> int | None:
    """The ``available`` quantity of an ``InventoryLevel`` answer (None: not stocked there)."""
    if not isinstance(level, dict):
        return None
    for q in level.get("quantities") or []:
        if isinstance(q, dict) and q.get("name") == "available" and type(q.get("quantity")) is int:
            return int(q["quantity"])
    return None


@dataclass
class ShopifyOutbound:
    """The Shopify ``OutboundAdapter`` (and ``CompareAndSet``): one GraphQL mutation sets up to
    ``max_batch`` quantities, each conditional on what the location is believed to list.

    ``for_channel`` returns a copy with the channel's ``max_batch`` / ``api_version`` /
    ``mutation_cost_per_quantity`` extras applied.
    ``sleep`` is injectable so catalog imports and reads can be tested without real waiting.
    """

    kind: str = "shopify"
    max_batch: int = 250
    default_rate: tuple[float, float] = (100.0, 1000.0)
    api_version: str = DEFAULT_API_VERSION
    catalog_page_size: int = 250
    cost_per_quantity: float = PER_QUANTITY_COST
    max_attempts: int = 30
    read_attempts: int = 5
    compare_and_set: bool = True
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def for_channel(self, channel: ChannelConfig) -> ShopifyOutbound:
        return replace(
            self,
            max_batch=int(getattr(channel, "max_batch", self.max_batch)),
            api_version=str(getattr(channel, "api_version", None) or self.api_version),
            catalog_page_size=int(getattr(channel, "catalog_page_size", self.catalog_page_size)),
            cost_per_quantity=float(getattr(channel, "mutation_cost_per_quantity", self.cost_per_quantity)),
        )

    def warnings(self, channel: ChannelConfig) -> list[str]:
        """Start-up warnings for ``channel``: an API version Shopify no longer serves (or not a
        stable one), a missing ``location_id`` (quantities are per location: nothing can be pushed)."""
        version = str(getattr(channel, "api_version", None) or self.api_version)
        out = [f"channel {channel.id}: {w}" for w in version_warnings(version)]
        if getattr(channel, "location_id", None) is None:
            out.append(
                f"channel {channel.id}: no location_id: Shopify sets quantities per location, "
                "so no push can be built"
            )
        return out

    def cost(self, updates: list[ListingUpdate]) -> float:
        return mutation_cost(len(updates), self.cost_per_quantity)

    def read_cost(self, n: int) -> float:
        return level_read_cost(n)

    def _endpoint(self, channel: ChannelConfig) -> tuple[str, dict[str, str]]:
        base, headers = admin_api(channel, self.api_version)
        return f"{base}/graphql.json", headers

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        """One idempotent, conditional mutation for all ``updates``; raises ValueError on an empty,
        oversized or id-less batch."""
        if not updates or len(updates) > self.max_batch:
            raise ValueError(f"a Shopify batch carries 1..{self.max_batch} updates, not {len(updates)}")
        if len({u.sku for u in updates}) != len(updates):
            raise ValueError("a Shopify batch must name each SKU once (coalesce first)")
        default_location = getattr(channel, "location_id", None)
        quantities = []
        for u in updates:
            location = u.ids.get("location_id") or default_location
            if "inventory_item_id" not in u.ids or location is None:
                raise ValueError(
                    f"SKU {u.sku!r} lacks an inventory_item_id or location_id (import the catalog)"
                )
            quantities.append(
                {
                    "inventoryItemId": gid("InventoryItem", u.ids["inventory_item_id"]),
                    "locationId": gid("Location", location),
                    "quantity": u.quantity,
                    "changeFromQuantity": change_from(u),
                }
            )
        variables = {"input": {"name": "available", "reason": "correction", "quantities": quantities}}
        query = SET_QUANTITIES % idempotency_key(channel.id, quantities, updates)
        url, headers = self._endpoint(channel)
        return httpx.Request(
            "POST", url, content=orjson.dumps({"query": query, "variables": variables}), headers=headers
        )

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
        body = json_object(response)
        result = PushResult()
        requested = read_budget(result, body) or self.cost(updates)
        if status == 429 or status >= 500:
            result.retry = skus
            result.retry_after_s = retry_after(response)
            if result.retry_after_s is None and result.budget_available is not None:
                result.retry_after_s = refill_wait(result, requested)
            return result
        if status != 200:
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {response.text[:200]}"))
        if body is None:
            return PushResult(retry=skus)
        if body.get("errors"):
            errors = [e if isinstance(e, dict) else {"message": str(e)} for e in as_list(body["errors"])]
            return classify_errors(result, errors, skus, requested)
        payload = (body.get("data") or {}).get("inventorySetQuantities")
        if not isinstance(payload, dict):
            result.failed = dict.fromkeys(skus, "no inventorySetQuantities payload in the answer")
            return result
        return classify_payload(result, payload, skus)

    async def read_listed(
        self, client: httpx.AsyncClient, channel: ChannelConfig, updates: list[ListingUpdate]
    ) -> tuple[dict[str, int | None], PushResult | None]:
        """What each update's location lists now (``available``), read with ``nodes(ids:)``;
        None for a listing that could not be read (not stocked there, unknown, or the read failed).
        One query per location and 250 items; returns the last answer's budget report."""
        url, headers = self._endpoint(channel)
        default_location = getattr(channel, "location_id", None)
        out: dict[str, int | None] = {u.sku: None for u in updates}
        groups: dict[str, list[ListingUpdate]] = {}
        for u in updates:
            location = u.ids.get("location_id") or default_location
            if location is not None and "inventory_item_id" in u.ids:
                groups.setdefault(gid("Location", location), []).append(u)
        budget: PushResult | None = None
        for location, group in groups.items():
            for i in range(0, len(group), 250):
                chunk = group[i : i + 250]
                ids = [gid("InventoryItem", u.ids["inventory_item_id"]) for u in chunk]
                body = await self._read_levels(client, url, headers, ids, location)
                if body is None:
                    continue
                budget = PushResult()
                read_budget(budget, body)
                nodes = (body.get("data") or {}).get("nodes")
                if not isinstance(nodes, list) or len(nodes) != len(chunk):
                    continue
                for u, node in zip(chunk, nodes, strict=True):
                    out[u.sku] = available_of(node.get("inventoryLevel")) if isinstance(node, dict) else None
        return out, budget

    async def _read_levels(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str], ids: list[str], location: str
    ) -> dict[str, Any] | None:
        """One ``nodes(ids:)`` read, retried when throttled, 5xx or cut off; None when it failed."""
        content = orjson.dumps({"query": LEVELS, "variables": {"ids": ids, "location": location}})
        for attempt in range(self.read_attempts):
            try:  # a read: safe to send again
                response = await client.post(url, content=content, headers=headers)
            except httpx.TransportError:
                await self.sleep(backoff(attempt))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                await self.sleep(retry_after(response) or backoff(attempt))
                continue
            body = json_object(response)
            if response.status_code != 200 or body is None:
                return None
            errors = [
                e if isinstance(e, dict) else {"message": str(e)} for e in as_list(body.get("errors") or [])
            ]
            if any(is_throttled(e) for e in errors):
                probe = PushResult()
                requested = read_budget(probe, body)
                await self.sleep(refill_wait(probe, requested or level_read_cost(len(ids))))
                continue
            return None if errors else body
        return None

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """Every variant with a SKU: ``{sku: {"inventory_item_id", "variant_id", "location_id"?,
        "listed"?}}``.

        With a ``location_id``, ``listed`` is what that location listed when the page was read: the
        first push's ``changeFromQuantity`` before the engine has a belief of its own (a SKU not
        stocked at the location has none).
        """
        url, headers = self._endpoint(channel)
        location = getattr(channel, "location_id", None)
        first = min(250, self.catalog_page_size)
        out: dict[str, dict[str, Any]] = {}
        after: str | None = None
        while True:
            variables: dict[str, Any] = {"first": first, "after": after}
            if location:
                variables["location"] = gid("Location", location)
            body = await self._catalog_page(client, url, headers, variables)
            connection = (body.get("data") or {}).get("productVariants")
            if not isinstance(connection, dict):
                raise CatalogImportError(f"no productVariants in Shopify's answer: {str(body)[:200]}")
            for edge in connection["edges"]:
                node = edge["node"]
                if node.get("sku") and node["sku"] not in out:  # first listing of a duplicated SKU wins
                    item = node["inventoryItem"]
                    ids: dict[str, Any] = {"inventory_item_id": item["id"], "variant_id": node["id"]}
                    if location:
                        ids["location_id"] = gid("Location", location)
                        listed = available_of(item.get("inventoryLevel"))
                        if listed is not None:
                            ids["listed"] = listed
                    out[node["sku"]] = ids
            if not connection["pageInfo"]["hasNextPage"]:
                return out
            after = connection["pageInfo"]["endCursor"]
            await self._pace(body, catalog_page_cost(first))

    async def _catalog_page(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str], variables: dict[str, Any]
    ) -> dict[str, Any]:
        query = VARIANTS_AT if "location" in variables else VARIANTS
        content = orjson.dumps({"query": query, "variables": variables})
        for attempt in range(self.max_attempts):
            response = await client.post(url, content=content, headers=headers)
            if response.status_code == 429 or response.status_code >= 500:
                await self.sleep(retry_after(response) or backoff(attempt))
                continue
            if response.status_code != 200:
                raise CatalogImportError(
                    f"Shopify answered HTTP {response.status_code}: {response.text[:200]}"
                )
            body = json_object(response)
            if body is None:
                raise CatalogImportError(f"Shopify answered a non-object: {response.text[:200]}")
            probe = PushResult()
            requested = read_budget(probe, body)
            errors = [
                e if isinstance(e, dict) else {"message": str(e)} for e in as_list(body.get("errors") or [])
            ]
            if any(is_throttled(e) for e in errors):
                await self.sleep(refill_wait(probe, requested or catalog_page_cost(variables["first"])))
                continue
            if errors:
                raise CatalogImportError(f"Shopify GraphQL errors: {errors}")
            return body
        raise CatalogImportError(f"gave up after {self.max_attempts} throttled or failed attempts")

    async def _pace(self, body: dict[str, Any], next_cost: float) -> None:
        """Wait until the bucket holds the next page's cost, rather than spending a call on Throttled."""
        probe = PushResult()
        read_budget(probe, body)
        wait = refill_wait(probe, next_cost)
        if wait > 0:
            await self.sleep(wait)
