"""The simulator's rules for ``patchListingsItem`` bodies (see ``sim.app`` for their sources)."""

from __future__ import annotations

from typing import Any

from adapters.sim.core import Listing

PATCH_PATH = "/attributes/fulfillment_availability"
OPS = ("add", "replace", "merge", "delete")
"""``PatchOperation.op`` (models/listings-items-api-model/listingsItems_2021-08-01.json)."""


def patch_refusal(body: Any) -> str:
    """Why SP-API would refuse the patch body outright (400), or ""."""
    if not isinstance(body, dict):
        return "The request body is not a JSON object"
    if not isinstance(body.get("productType"), str) or not body["productType"]:
        return "Missing required property: productType"
    patches = body.get("patches")
    if not isinstance(patches, list) or not patches:
        return "Missing required property: patches"
    for patch in patches:
        if (
            not isinstance(patch, dict)
            or patch.get("op") not in OPS
            or not isinstance(patch.get("path"), str)
        ):
            return f"patches: op must be one of {', '.join(OPS)}, with a path"
    return ""


def patch_issue(listing: Listing | None, sku: str, body: dict[str, Any]) -> str:
    """Why the simulator answers a well-formed patch ``INVALID`` (simulator choices), or ""."""
    if listing is None:
        return f"SKU {sku} is not a listing of this seller"
    if body["productType"] not in (listing.ids.get("product_type"), "PRODUCT"):
        return f"productType {body['productType']} does not match the listing's"
    patch = body["patches"][0] if len(body["patches"]) == 1 else {}
    value = patch.get("value")
    entry = value[0] if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict) else {}
    qty = entry.get("quantity")
    if patch.get("path") != PATCH_PATH or entry.get("fulfillment_channel_code") != "DEFAULT":
        return "the simulator models one DEFAULT fulfillment_availability patch"
    if type(qty) is not int or qty < 0:
        return "quantity must be a non-negative integer"
    return ""
