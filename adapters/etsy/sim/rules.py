"""What the simulated ``updateListingInventory`` refuses, each rule with its source.

- ``products`` a non-empty list; each product ``sku`` (string), ``property_values`` (list),
  ``offerings`` (a non-empty list): updateListingInventory request schema (developers.etsy.com
  reference; etsy/open-api OAS ``UpdateListingInventoryRequest``).
- an offering's ``price`` a decimal number, not the read's money object, at least 0.20 (Etsy's
  minimum listing price, Seller Handbook "Etsy fees"/listing price; the OAS types it ``number``);
  ``quantity`` an integer 0..999 (OAS description: "How many of this product are available",
  listing quantity maximum 999 in Etsy's listing form); ``is_enabled`` a boolean;
  ``readiness_state_id`` present (the OAS: "Required when listing type is physical"; every
  simulated listing is physical).
- ``*_on_property`` lists of property ids used by the products' ``property_values`` (the "Listing
  Inventory" tutorial: the arrays name which properties vary the price, quantity or SKU).
- two products with the same property values: refused (each product is one combination).
"""

from __future__ import annotations

from typing import Any

ON_PROPERTY = ("price_on_property", "quantity_on_property", "sku_on_property", "readiness_state_on_property")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def offering_refusal(offer: Any, where: str) -> str | None:
    if not isinstance(offer, dict):
        return f"{where} must be an object"
    if not _number(offer.get("price")):
        return f"{where}.price must be a number"
    if offer["price"] < 0.2:
        return f"{where}.price must be at least 0.20"
    quantity = offer.get("quantity")
    if type(quantity) is not int or not 0 <= quantity <= 999:
        return f"{where}.quantity must be an integer 0..999"
    if not isinstance(offer.get("is_enabled"), bool):
        return f"{where}.is_enabled must be a boolean"
    if type(offer.get("readiness_state_id")) is not int:
        return f"{where}.readiness_state_id is required for a physical listing"
    return None


def inventory_refusal(body: Any) -> str | None:
    """Why the write is refused (400), or None."""
    if not isinstance(body, dict) or not isinstance(body.get("products"), list) or not body["products"]:
        return "products must be a non-empty list"
    used: set[int] = set()
    combos: set[tuple[Any, ...]] = set()
    for i, product in enumerate(body["products"]):
        where = f"products[{i}]"
        if not isinstance(product, dict) or not isinstance(product.get("sku"), str):
            return f"{where}.sku must be a string"
        values, offers = product.get("property_values"), product.get("offerings")
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            return f"{where}.property_values must be a list of objects"
        combo = tuple(sorted((v.get("property_id"), tuple(v.get("value_ids") or ())) for v in values))
        if combo in combos:
            return f"{where} repeats another product's property values"
        combos.add(combo)
        used.update(v["property_id"] for v in values if type(v.get("property_id")) is int)
        if not isinstance(offers, list) or not offers:
            return f"{where}.offerings must be a non-empty list"
        for j, offer in enumerate(offers):
            refusal = offering_refusal(offer, f"{where}.offerings[{j}]")
            if refusal:
                return refusal
    for name in ON_PROPERTY:
        ids = body.get(name, [])
        if not isinstance(ids, list) or not all(type(x) is int and x in used for x in ids):
            return f"{name} must list property ids the products use"
    return None
