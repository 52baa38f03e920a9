"""The slice of Shopify's Admin GraphQL API the simulator answers: inventorySetQuantities and productVariants.

This is not a GraphQL engine. It recognises the two root fields by name, reads their arguments from
``variables`` (or integer/string literals for ``first``/``after``), validates them the way Shopify
reports problems, charges a calculated cost against a leaky bucket, and answers with a fixed selection
(the fields ``adapters.shopify.outbound`` asks for). Anything else gets a GraphQL error.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from adapters.shopify.outbound import mutation_cost
from adapters.shopify.sim_input import input_problems
from adapters.sim_core import SimulatedStore, TokenBucket

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
    ) -> None:
        self.store, self.bucket, self.location_id, self.by_item = store, bucket, location_id, by_item
        self.mutation_cost, self.query_cost, self.max_cost = mutation_cost, query_cost, max_cost
        self.orders: Any = None
        """The order reads (``adapters.shopify.sim_orders.OrdersGraphQL``), set by the simulator."""

    def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if (m := SET_RE.search(query)) and query.lstrip().startswith("mutation"):
            return self._set_quantities(m.group(1), variables)
        if m := VARIANTS_RE.search(query):
            return self._variants(m.group(1), variables)
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

    def _set_quantities(self, var: str, variables: dict[str, Any]) -> dict[str, Any]:
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
        if len(quantities) > 250:
            message = f"The input array size of {len(quantities)} is greater than the maximum allowed of 250."
            error = {"message": message, "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"}}
            return self._answer({"errors": [error]}, None)
        requested = self.mutation_cost(len(quantities))
        if (refusal := self._charge(requested)) is not None:
            return refusal
        errors = self._user_errors(value)
        group = None if errors else self._apply(value)
        payload = {"inventoryAdjustmentGroup": group, "userErrors": errors}
        return self._answer({"data": {"inventorySetQuantities": payload}}, requested, requested)

    def _user_errors(self, value: dict[str, Any]) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
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
        items, seen = self.by_item(), set()
        for i, q in enumerate(value["quantities"]):
            path = ["input", "quantities", str(i)]
            sku = items.get(q["inventoryItemId"])
            if sku is None:
                errors.append(
                    _uerr(
                        "INVALID_INVENTORY_ITEM",
                        [*path, "inventoryItemId"],
                        "The specified inventory item could not be found.",
                    )
                )
            elif q["locationId"] != self.location_id:
                errors.append(
                    _uerr(
                        "INVALID_LOCATION",
                        [*path, "locationId"],
                        "The specified location could not be found.",
                    )
                )
            elif q["inventoryItemId"] in seen:
                errors.append(
                    _uerr(
                        "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                        path,
                        "The combination of inventoryItemId and locationId must be unique.",
                    )
                )
            elif q["quantity"] < 0:
                errors.append(
                    _uerr("INVALID_QUANTITY_NEGATIVE", [*path, "quantity"], "The quantity can't be negative.")
                )
            elif q["quantity"] > 1_000_000_000:
                errors.append(
                    _uerr(
                        "INVALID_QUANTITY_TOO_HIGH",
                        [*path, "quantity"],
                        "The total quantity can't be higher than 1,000,000,000.",
                    )
                )
            elif not value.get("ignoreCompareQuantity"):
                errors.extend(self._compare_errors(q, sku, path))
            seen.add(q["inventoryItemId"])
        return errors

    def _compare_errors(self, q: dict[str, Any], sku: str, path: list[str]) -> list[dict[str, Any]]:
        if q.get("compareQuantity") is None:
            msg = (
                "The compareQuantity argument must be given to each quantity or ignored using "
                "ignoreCompareQuantity."
            )
            return [_uerr("COMPARE_QUANTITY_REQUIRED", [*path, "compareQuantity"], msg)]
        if q["compareQuantity"] != self.store.listings[sku].quantity:
            msg = "The compareQuantity value does not match persisted value."
            return [_uerr("COMPARE_QUANTITY_STALE", [*path, "compareQuantity"], msg)]
        return []

    def _apply(self, value: dict[str, Any]) -> dict[str, Any]:
        items = self.by_item()
        pairs = [(items[q["inventoryItemId"]], q["quantity"]) for q in value["quantities"]]
        before = {sku: self.store.listings[sku].quantity for sku, _ in pairs}
        self.store.set_quantities(pairs)
        changes = [
            {
                "name": value["name"],
                "delta": qty - before[sku],
                "quantityAfterChange": qty,
                "item": {"id": q["inventoryItemId"]},
            }
            for (sku, qty), q in zip(pairs, value["quantities"], strict=True)
        ]
        return {"reason": value["reason"], "changes": changes}

    # -- productVariants -----------------------------------------------------------------------------

    def _variants(self, args_text: str, variables: dict[str, Any]) -> dict[str, Any]:
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
        edges = [
            {
                "cursor": _cursor(vid),
                "node": {
                    "id": f"gid://shopify/ProductVariant/{vid}",
                    "sku": item.sku,
                    "inventoryQuantity": item.quantity,
                    "inventoryItem": {"id": item.ids["inventory_item_id"]},
                },
            }
            for vid, item in page
        ]
        more = bool(page) and page[-1][0] < rows[-1][0]
        info = {"hasNextPage": more, "endCursor": edges[-1]["cursor"] if edges else None}
        actual = self.query_cost(len(page))
        self.bucket.refund(requested - actual)
        data = {"productVariants": {"edges": edges, "nodes": [e["node"] for e in edges], "pageInfo": info}}
        return self._answer({"data": data}, requested, actual)


def _points(cost: float | None) -> float | int | None:
    """Shopify reports costs as integers; keep fractions only when a cost model produces them."""
    return int(cost) if cost is not None and float(cost).is_integer() else cost


def _uerr(code: str, field: list[str], message: str) -> dict[str, Any]:
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
