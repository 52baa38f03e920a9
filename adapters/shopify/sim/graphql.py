"""The slice of Shopify's Admin GraphQL API the simulator answers: inventorySetQuantities and productVariants.

This is not a GraphQL engine. It recognises the two root fields by name, reads their arguments from
``variables`` (or integer/string literals for ``first``/``after``), validates them the way Shopify
reports problems, charges a calculated cost against a leaky bucket, and answers with a fixed selection
(the fields ``adapters.shopify.outbound`` asks for). Anything else gets a GraphQL error.

Inventory follows 2026-04 and later (the only versions the shop serves, ``sim.inventory``): the
mutation needs ``@idempotent(key:)`` and a ``changeFromQuantity`` on every quantity, writes only
where the location still holds it, replays a repeated key; ``productVariants`` and ``nodes(ids:)``
answer ``inventoryLevel(locationId:)`` per location. Each rule cites its source where it is made.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from adapters.shopify.outbound import level_read_cost, mutation_cost
from adapters.shopify.sim.inputs import input_problems
from adapters.shopify.sim.inventory import (
    NODES_RE,
    IdempotencyKeys,
    Locations,
    argument,
    idempotency_key,
    level_answer,
    level_selection,
)
from adapters.sim.core import SimulatedStore, TokenBucket

SET_RE = re.compile(r"\binventorySetQuantities\s*\(\s*input\s*:\s*\$(\w+)\s*\)")
VARIANTS_RE = re.compile(r"\bproductVariants\s*\(([^)]*)\)")
ARG_RE = re.compile(r"(\w+)\s*:\s*(\$\w+|\"(?:[^\"\\]|\\.)*\"|-?\d+|null)")
REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_canceled",
        "movement_created",
        "movement_received",
        "movement_updated",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)


def default_mutation_cost(n_quantities: int) -> float:
    """Requested cost the simulator charges for inventorySetQuantities: the published model, the same
    one the adapter budgets with (``adapters.shopify.outbound.mutation_cost``: 10 per mutation, input
    arguments free; see its docstring for the source). ``ShopifySimulator(mutation_cost_per_quantity=)``
    charges more per quantity to test a shop that does."""
    return mutation_cost(n_quantities)


def default_query_cost(first: int) -> float:
    """Requested cost of a ``productVariants(first: n)`` page: connection 2 + one per node."""
    return 2.0 + first


MISSING_CHANGE_FROM_CODE = "COMPARE_QUANTITY_REQUIRED"
"""userError code for a quantity without ``changeFromQuantity`` at 2026-04+ (*unverified*, see
``ShopifyGraphQL._quantity_error``)."""


class ShopifyGraphQL:
    """Executes one GraphQL request body against the store, charging ``bucket``; returns the JSON answer."""

    def __init__(
        self,
        store: SimulatedStore,
        bucket: TokenBucket,
        location_id: str,
        by_item: Callable[[], Mapping[str, str]],
        mutation_cost: Callable[[int], float] = default_mutation_cost,
        query_cost: Callable[[int], float] = default_query_cost,
        max_cost: float = 1000.0,
        locations: Locations | None = None,
        keys: IdempotencyKeys | None = None,
        partial_writes: bool = False,
    ) -> None:
        self.store, self.bucket, self.location_id, self.by_item = store, bucket, location_id, by_item
        self.mutation_cost, self.query_cost, self.max_cost = mutation_cost, query_cost, max_cost
        self.locations = locations or Locations(store, location_id, ())
        self.keys = keys or IdempotencyKeys()
        self.partial_writes = partial_writes
        """Whether a call with per-item userErrors writes its other quantities. Off (the default):
        nothing is written and ``inventoryAdjustmentGroup`` is null. MARKETPLACES.md leaves the rest
        of the call unverified; shopify.dev's changelog ("Making changeFromQuantity field required",
        2026-04) says that on a mismatch "the mutation will fail with a CHANGE_FROM_QUANTITY_STALE
        error", which reads as the whole call, so the stricter behaviour is the default."""
        self.orders: Any = None
        """The order reads (``adapters.shopify.sim.orders.OrdersGraphQL``), set by the simulator."""

    def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if (m := SET_RE.search(query)) and query.lstrip().startswith("mutation"):
            return self._set_quantities(m.group(1), variables, idempotency_key(query, m.end(), variables))
        if m := NODES_RE.search(query):
            return self._nodes(argument(m.group(1), variables), level_selection(query, variables))
        if m := VARIANTS_RE.search(query):
            return self._variants(m.group(1), variables, level_selection(query, variables))
        if self.orders is not None and (answer := self.orders.execute(query, variables)) is not None:
            return answer
        message = "simulator answers only inventorySetQuantities(input: $var) and productVariants(...)"
        return self._answer(
            {"errors": [{"message": message, "extensions": {"code": "undefinedField"}}]}, None
        )

    # -- cost and throttle ---------------------------------------------------------------------------

    def _answer(
        self, body: dict[str, Any], requested: float | None, actual: float | None = None
    ) -> dict[str, Any]:
        body["extensions"] = {
            "cost": {
                "requestedQueryCost": _points(requested),
                "actualQueryCost": _points(actual),
                "throttleStatus": {
                    "maximumAvailable": self.bucket.capacity,
                    "currentlyAvailable": round(self.bucket.available(), 3),
                    "restoreRate": self.bucket.rate,
                },
            }
        }
        return body

    def _charge(self, requested: float) -> dict[str, Any] | None:
        """None when ``requested`` was taken from the bucket, else the error answer to send."""
        if requested > self.max_cost:
            limit = f"the single query max cost limit ({self.max_cost:g})"
            message = f"Query cost is {requested:g}, which exceeds {limit}."
            error = {"message": message, "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested}}
            return self._answer({"errors": [error]}, requested)
        if not self.bucket.take(requested):
            self.store.count("throttled")
            error = {"message": "Throttled", "extensions": {"code": "THROTTLED"}}
            return self._answer({"errors": [error]}, requested)
        return None

    # -- inventorySetQuantities ----------------------------------------------------------------------

    def _set_quantities(self, var: str, variables: dict[str, Any], key: str | None) -> dict[str, Any]:
        value = variables.get(var)
        problems = input_problems(value)
        if problems:
            detail = ", ".join(f"{'.'.join(map(str, p['path']))} ({p['explanation']})" for p in problems)
            message = (
                f"Variable ${var} of type InventorySetQuantitiesInput! was provided invalid value for "
                + detail
            )
            error = {"message": message, "extensions": {"value": value, "problems": problems}}
            return self._answer({"errors": [error]}, None)
        assert isinstance(value, dict)
        quantities = value["quantities"]
        # Input arrays hold at most 250 items (shopify.dev "API limits"; MARKETPLACES.md, Shopify:
        # "Max 250 quantities per call").
        if len(quantities) > 250:
            message = f"The input array size of {len(quantities)} is greater than the maximum allowed of 250."
            error = {"message": message, "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"}}
            return self._answer({"errors": [error]}, None)
        # From 2026-04 "calling these mutations without an idempotency directive will result in an
        # error at runtime" (shopify.dev changelog "Making idempotency mandatory for inventory
        # adjustments and refund mutations"). The error's exact shape is *unverified*: a top-level
        # error here, and nothing runs.
        if key is None:
            message = (
                "inventorySetQuantities requires the @idempotent(key:) directive from API version 2026-04"
            )
            error = {"message": message, "extensions": {"code": "IDEMPOTENCY_KEY_REQUIRED"}}
            return self._answer({"errors": [error]}, None)
        requested = self.mutation_cost(len(quantities))
        if (refusal := self._charge(requested)) is not None:
            return refusal
        fingerprint = self.keys.fingerprint(value)
        seen, payload = self.keys.recall(key, fingerprint)
        if seen == "replay":  # the original result, nothing written again (see ``IdempotencyKeys``)
            self.store.count("replayed")
            return self._answer({"data": {"inventorySetQuantities": payload}}, requested, requested)
        if seen == "mismatch":
            message = "The same idempotency key cannot be used with different operation parameters."
            errors = [_uerr("IDEMPOTENCY_KEY_PARAMETER_MISMATCH", None, message)]
            payload = {"inventoryAdjustmentGroup": None, "userErrors": errors}
            return self._answer({"data": {"inventorySetQuantities": payload}}, requested, requested)
        errors, refused = self._user_errors(value)
        if errors and not self.partial_writes:
            group = None
        else:
            keep = [q for i, q in enumerate(quantities) if i not in refused]
            group = self._apply(value, keep) if keep or not errors else None
        self.store.count("stale", sum(e["code"] == "CHANGE_FROM_QUANTITY_STALE" for e in errors))
        payload = {"inventoryAdjustmentGroup": group, "userErrors": errors}
        self.keys.remember(key, fingerprint, payload)
        return self._answer({"data": {"inventorySetQuantities": payload}}, requested, requested)

    def _user_errors(self, value: dict[str, Any]) -> tuple[list[dict[str, Any]], set[int]]:
        """The call's userErrors and the indexes of the quantities they refuse. Codes and messages
        from the enum ``InventorySetQuantitiesUserErrorCode`` (2026-01 to 2026-10 and unstable)."""
        errors: list[dict[str, Any]] = []
        refused: set[int] = set()
        if value["name"] not in ("available", "on_hand"):
            errors.append(
                _uerr(
                    "INVALID_NAME",
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                )
            )
        if value["reason"] not in REASONS:
            errors.append(_uerr("INVALID_REASON", ["input", "reason"], "The specified reason is invalid."))
        items, seen = self.by_item(), set[tuple[str, str]]()
        for i, q in enumerate(value["quantities"]):
            error = self._quantity_error(
                q, items.get(q["inventoryItemId"]), seen, ["input", "quantities", str(i)]
            )
            seen.add((q["inventoryItemId"], q["locationId"]))
            if error is not None:
                errors.append(error)
                refused.add(i)
        return errors, refused

    def _quantity_error(
        self, q: dict[str, Any], sku: str | None, seen: set[tuple[str, str]], path: list[str]
    ) -> dict[str, Any] | None:
        if sku is None:
            return _uerr(
                "INVALID_INVENTORY_ITEM",
                [*path, "inventoryItemId"],
                "The specified inventory item could not be found.",
            )
        if q["locationId"] not in self.locations.ids:
            return _uerr(
                "INVALID_LOCATION", [*path, "locationId"], "The specified location could not be found."
            )
        if (q["inventoryItemId"], q["locationId"]) in seen:
            return _uerr(
                "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                path,
                "The combination of inventoryItemId and locationId must be unique.",
            )
        current = self.locations.level(sku, q["locationId"])
        if current is None:
            return _uerr(
                "ITEM_NOT_STOCKED_AT_LOCATION",
                [*path, "locationId"],
                "The inventory item is not stocked at the location.",
            )
        if q["quantity"] < 0:
            return _uerr("INVALID_QUANTITY_NEGATIVE", [*path, "quantity"], "The quantity can't be negative.")
        if q["quantity"] > 1_000_000_000:
            return _uerr(
                "INVALID_QUANTITY_TOO_HIGH",
                [*path, "quantity"],
                "The total quantity can't be higher than 1,000,000,000.",
            )
        # "As of 2026-04, each quantity in quantities must include a changeFromQuantity value ... In
        # order to opt out of the check for a quantity, explicitly pass null as its
        # changeFromQuantity. Omitting changeFromQuantity returns an error." (the mutation's doc,
        # 2026-04 onwards). Which code an omission gets is *unverified*: the 2026-10 enum has no
        # CHANGE_FROM_QUANTITY_REQUIRED, so the nearest documented one is used.
        if "changeFromQuantity" not in q:
            message = (
                "The changeFromQuantity argument must be given to each quantity (null to skip the check)."
            )
            return _uerr(MISSING_CHANGE_FROM_CODE, [*path, "changeFromQuantity"], message)
        # "The mutation only updates the quantity if the persisted quantity matches, and otherwise
        # returns a CHANGE_FROM_QUANTITY_STALE error" (same doc); the field path is *unverified*.
        if q["changeFromQuantity"] is not None and q["changeFromQuantity"] != current:
            return _uerr(
                "CHANGE_FROM_QUANTITY_STALE",
                [*path, "changeFromQuantity"],
                "The changeFromQuantity value does not match persisted value.",
            )
        return None

    def _apply(self, value: dict[str, Any], quantities: list[dict[str, Any]]) -> dict[str, Any]:
        items = self.by_item()
        writes = [(items[q["inventoryItemId"]], q["locationId"], q["quantity"]) for q in quantities]
        before = [self.locations.level(sku, loc) or 0 for sku, loc, _ in writes]
        self.locations.write(writes)
        changes = [
            {
                "name": value["name"],
                "delta": qty - was,
                "quantityAfterChange": qty,
                "item": {"id": q["inventoryItemId"]},
                "location": {"id": q["locationId"]},
            }
            for (_, _, qty), was, q in zip(writes, before, quantities, strict=True)
        ]
        return {"reason": value["reason"], "changes": changes}

    # -- inventory levels ----------------------------------------------------------------------------

    def _nodes(self, ids: Any, selection: tuple[str, list[str]] | None) -> dict[str, Any]:
        """``nodes(ids:)``: each id's InventoryItem (with its level at a location when selected);
        null for an id that names none (GraphQL ``nodes`` answers null for unknown ids). At most 250
        ids, as every list argument (shopify.dev "API limits")."""
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > 250:
            error = {
                "message": "nodes needs `ids`: a list of at most 250 IDs",
                "extensions": {"code": "BAD_ARGS"},
            }
            return self._answer({"errors": [error]}, None)
        requested = level_read_cost(len(ids))
        if (refusal := self._charge(requested)) is not None:
            return refusal
        items = self.by_item()
        nodes: list[dict[str, Any] | None] = []
        for item_id in ids:
            sku = items.get(item_id)
            if sku is None:
                nodes.append(None)
                continue
            node: dict[str, Any] = {"id": item_id}
            if selection is not None:
                location, names = selection
                node["inventoryLevel"] = level_answer(self.locations.level(sku, location), names)
            nodes.append(node)
        return self._answer({"data": {"nodes": nodes}}, requested, requested)

    # -- productVariants -----------------------------------------------------------------------------

    def _variants(
        self, args_text: str, variables: dict[str, Any], selection: tuple[str, list[str]] | None = None
    ) -> dict[str, Any]:
        args = {k: _literal(v, variables) for k, v in ARG_RE.findall(args_text)}
        first, after = args.get("first"), args.get("after")
        if not isinstance(first, int) or isinstance(first, bool) or not 0 < first <= 250:
            error = {
                "message": "productVariants needs `first` between 1 and 250",
                "extensions": {"code": "argumentLiteralsIncompatible"},
            }
            return self._answer({"errors": [error]}, None)
        start = _decode_cursor(after)
        if start is None:
            return self._answer({"errors": [{"message": "Invalid cursor for current pagination"}]}, None)
        requested = self.query_cost(first)
        if (refusal := self._charge(requested)) is not None:
            return refusal
        rows = sorted((item.ids["variant_id"], item) for item in self.store.listings.values())
        page = [(vid, item) for vid, item in rows if vid > start][:first]
        edges = [{"cursor": _cursor(vid), "node": self._variant(vid, item, selection)} for vid, item in page]
        more = bool(page) and page[-1][0] < rows[-1][0]
        info = {"hasNextPage": more, "endCursor": edges[-1]["cursor"] if edges else None}
        actual = self.query_cost(len(page))
        self.bucket.refund(requested - actual)
        data = {"productVariants": {"edges": edges, "nodes": [e["node"] for e in edges], "pageInfo": info}}
        return self._answer({"data": data}, requested, actual)

    def _variant(self, vid: int, item: Any, selection: tuple[str, list[str]] | None) -> dict[str, Any]:
        """One variant node. ``inventoryQuantity`` sums every location that stocks it
        (MARKETPLACES.md, Shopify, "Catalog"); a selected ``inventoryLevel(locationId:)`` is that one
        location's (null where it is not stocked, or for an unknown location)."""
        inventory_item: dict[str, Any] = {"id": item.ids["inventory_item_id"]}
        if selection is not None:
            location, names = selection
            inventory_item["inventoryLevel"] = level_answer(self.locations.level(item.sku, location), names)
        return {
            "id": f"gid://shopify/ProductVariant/{vid}",
            "sku": item.sku,
            "inventoryQuantity": self.locations.total(item.sku),
            "inventoryItem": inventory_item,
        }


def _points(cost: float | None) -> float | int | None:
    """Shopify reports costs as integers; keep fractions only when a cost model produces them."""
    return int(cost) if cost is not None and float(cost).is_integer() else cost


def _uerr(code: str, field: list[str] | None, message: str) -> dict[str, Any]:
    return {"code": code, "field": field, "message": message}


def _literal(text: str, variables: dict[str, Any]) -> Any:
    if text.startswith("$"):
        return variables.get(text[1:])
    return orjson.loads(text)


def _cursor(variant_id: int) -> str:
    return base64.b64encode(orjson.dumps({"last_id": variant_id, "last_value": str(variant_id)})).decode()


def _decode_cursor(cursor: Any) -> int | None:
    if cursor is None:
        return 0
    try:
        last = orjson.loads(base64.b64decode(str(cursor), validate=True))["last_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return last if isinstance(last, int) else None
