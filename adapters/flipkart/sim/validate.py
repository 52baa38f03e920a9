"""The simulator's rules for request bodies (see ``sim.app`` for their sources)."""

from __future__ import annotations

from typing import Any

from adapters.flipkart.sim.shipments import Shipment
from adapters.reading import epoch as parse
from adapters.sim.core import Listing

STATES = {
    "preDispatch": {"APPROVED", "PACKING_IN_PROGRESS", "FORM_FAILED", "PACKED", "READY_TO_DISPATCH"},
    "postDispatch": {"PICKUP_COMPLETE", "SHIPPED", "DELIVERED"},
    "cancelled": {"CANCELLED"},
}
"""``filter.states`` each ``filter.type`` takes (PostShipmentSearch)."""
CANCELLATIONS = {"sellerCancellation", "buyerCancellation", "marketplaceCancellation"}


def inventory_failure(listing: Listing | None, entry: Any) -> str:
    """Why one SKU's update inventory request fails (UpdateListingsInventoryAPI), or ""."""
    if listing is None:
        return "SKU does not exist"
    if not isinstance(entry, dict):
        return "update inventory request must be an object"
    product = entry.get("product_id")
    if not isinstance(product, str) or not 13 <= len(product) <= 16:
        return "product_id is mandatory, 13 to 16 characters"
    if product != listing.ids.get("product_id"):
        return "product_id does not match the listing"  # simulator choice
    locations = entry.get("locations")
    if not isinstance(locations, list) or not locations:
        return "locations is mandatory"
    for loc in locations:
        qty = loc.get("inventory") if isinstance(loc, dict) else None
        if not isinstance(loc, dict) or not isinstance(loc.get("id"), str) or not loc["id"]:
            return "locations[].id is mandatory"
        if type(qty) is not int or qty < 0:
            return "locations[].inventory must be a non-negative integer"
        if loc["id"] != listing.ids.get("location_id"):
            return f"unknown location {loc['id'][:40]}"  # simulator choice
    return ""


def filter_refusal(body: Any) -> str:
    """Why ``shipments/filter`` refuses the body (400), or ""."""
    wanted = body.get("filter") if isinstance(body, dict) else None
    if not isinstance(wanted, dict) or wanted.get("type") not in STATES:
        return "filter.type must be preDispatch, postDispatch or cancelled"
    states = wanted.get("states")
    if not isinstance(states, list) or not states or not set(states) <= STATES[wanted["type"]]:
        return f"filter.states must be among {sorted(STATES[wanted['type']])}"
    if wanted["type"] == "cancelled" and wanted.get("cancellationType") not in CANCELLATIONS:
        return "filter.cancellationType is mandatory for cancelled shipments"
    size = (body.get("pagination") or {}).get("pageSize", 20)
    if type(size) is not int or not 1 <= size <= 20:
        return "pagination.pageSize must be 1..20"  # simulator choice
    for name in ("modifiedDate", "cancellationDate", "orderDate"):
        window = wanted.get(name)
        if window is not None and (not isinstance(window, dict) or parse(window.get("from")) is None):
            return f"filter.{name}.from must be a date-time"
    return ""


def in_window(t: float, window: Any) -> bool:
    if not isinstance(window, dict):
        return True
    start, end = parse(window.get("from")), parse(window.get("to"))
    return (start is None or t >= start) and (end is None or t <= end)


def matches(shipment: Shipment, wanted: dict[str, Any]) -> bool:
    """Type, state and date window; a shipment's state is its items' (a partly cancelled one is
    listed with the live ones)."""
    if wanted["type"] == "cancelled":
        # the simulated seller is the one who cancels: sellerCancellation
        if not shipment.cancelled or wanted.get("cancellationType") != "sellerCancellation":
            return False
        return in_window(shipment.updated, wanted.get("cancellationDate"))
    live = {i.status for i in shipment.items if i.status != "CANCELLED"}
    return bool(live & set(wanted["states"])) and in_window(shipment.updated, wanted.get("modifiedDate"))
