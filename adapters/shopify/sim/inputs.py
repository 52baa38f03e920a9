"""Input coercion for the simulated inventorySetQuantities: problems reported as graphql-ruby does.

The input types as 2026-04 defines them: ``InventorySetQuantitiesInput`` {name, reason,
quantities, referenceDocumentUri} and ``InventoryQuantityInput`` {inventoryItemId, locationId,
quantity, changeFromQuantity}. ``ignoreCompareQuantity`` and ``compareQuantity`` are removed
("We're making the changeFromQuantity field introduced in 2026-01 mandatory and removing the
compareQuantity and ignoreCompareQuantity fields": shopify.dev changelog "New compare and swap
syntax for the inventorySetQuantities mutation", 2025-12-12, effective 2026-04), so sending them
is a coercion error like any undefined field. ``changeFromQuantity`` is a nullable ``Int`` in the
schema: leaving it out passes coercion and is refused by the mutation itself (``sim.graphql``).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

GID_RE = re.compile(r"^gid://shopify/(\w+)/(\d+)$")
INT_MAX = 2**31 - 1
INPUT_FIELDS = ("name", "reason", "quantities", "referenceDocumentUri")
QUANTITY_FIELDS = ("inventoryItemId", "locationId", "quantity", "changeFromQuantity")


def input_problems(value: Any) -> list[dict[str, Any]]:
    """GraphQL input coercion problems for InventorySetQuantitiesInput, as graphql-ruby reports them."""
    if not isinstance(value, dict):
        return [
            {
                "path": [],
                "explanation": "Expected value to not be null" if value is None else "Expected an object",
            }
        ]
    problems = [
        {"path": [key], "explanation": "Field is not defined on InventorySetQuantitiesInput"}
        for key in value
        if key not in INPUT_FIELDS
    ]
    for key in ("name", "reason"):
        if not isinstance(value.get(key), str):
            problems.append(
                {
                    "path": [key],
                    "explanation": "Expected value to not be null"
                    if value.get(key) is None
                    else "Could not coerce value to String",
                }
            )
    quantities = value.get("quantities")
    if not isinstance(quantities, list):
        return [*problems, {"path": ["quantities"], "explanation": "Expected value to not be null"}]
    for i, q in enumerate(quantities):
        problems.extend(
            {"path": ["quantities", i, *p["path"]], "explanation": p["explanation"]}
            for p in _quantity_problems(q)
        )
    return problems


def _quantity_problems(q: Any) -> list[dict[str, Any]]:
    if not isinstance(q, dict):
        return [{"path": [], "explanation": "Expected an object"}]
    problems = [
        {"path": [k], "explanation": "Field is not defined on InventoryQuantityInput"}
        for k in q
        if k not in QUANTITY_FIELDS
    ]
    # A well-formed id of the wrong type passes coercion; the mutation then reports it as a userError.
    for key in ("inventoryItemId", "locationId"):
        gid = q.get(key)
        match = GID_RE.match(gid) if isinstance(gid, str) else None
        if gid is None:
            problems.append({"path": [key], "explanation": "Expected value to not be null"})
        elif match is None:
            problems.append({"path": [key], "explanation": f"Invalid global id '{gid}'"})
    for key, required in (("quantity", True), ("changeFromQuantity", False)):
        v = q.get(key)
        if v is None and required:
            problems.append({"path": [key], "explanation": "Expected value to not be null"})
        elif v is not None and (not isinstance(v, int) or isinstance(v, bool) or abs(v) > INT_MAX):
            problems.append(
                {"path": [key], "explanation": f"Could not coerce value {orjson.dumps(v).decode()} to Int"}
            )
    return problems
