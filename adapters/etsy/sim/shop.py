"""The simulated shop's state: listings with their inventories (quantities in the shared store), and
receipts. Every change takes the store's lock, so the server thread and a test thread agree."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from adapters.sim.core import Listing, SimOrder, SimulatedStore

READINESS = 1_402_000_001
"""The shop's one processing profile (``readiness_state_id``)."""
SIZE = 513
"""Property id of the ``varied`` listings' variation (Etsy's "Size")."""


class EtsyShop:
    def __init__(self, store: SimulatedStore, shop_id: int) -> None:
        self.store, self.shop_id = store, shop_id
        self.listings: dict[int, dict[str, Any]] = {}
        """listing id -> ``{"products": [...], "on": {name: ids}}``; product quantities live in the store."""
        self.receipts: dict[int, dict[str, Any]] = {}
        base = 1_000_000_000 + secrets.randbelow(10**8) * 10
        self._next = base
        self._next_receipt = 3_000_000_000 + secrets.randbelow(10**8) * 10

    def _id(self) -> int:
        self._next += 1
        return self._next

    def seed(
        self, items: list[dict[str, Any]], reset: bool = True, varied: bool = False
    ) -> dict[str, dict[str, Any]]:
        """List ``items`` (``{"sku", "quantity"}``): one listing each, or (``varied``) three SKUs a
        listing as variations of one property with per-variation prices."""
        made: list[Listing] = []
        with self.store.lock:
            if reset:
                self.listings.clear()
                self.receipts.clear()
            per = 3 if varied else 1
            for start in range(0, len(items), per):
                group, lid = items[start : start + per], self._id()
                products = []
                for n, item in enumerate(group):
                    sku, qty = item["sku"], item["quantity"]
                    if not isinstance(sku, str) or not sku or type(qty) is not int:
                        raise ValueError(f"bad seed item {item!r}")
                    values = (
                        [
                            {
                                "property_id": SIZE,
                                "property_name": "Size",
                                "scale_id": None,
                                "scale_name": None,
                                "value_ids": [self._id()],
                                "values": [f"S{n}"],
                            }
                        ]
                        if varied
                        else []
                    )
                    products.append(
                        {
                            "product_id": self._id(),
                            "sku": sku,
                            "property_values": values,
                            "offering": {
                                "offering_id": self._id(),
                                "cents": 1500 + 100 * n,
                                "is_enabled": True,
                                "readiness_state_id": READINESS,
                            },
                        }
                    )
                    made.append(
                        Listing(sku, qty, {"listing_id": lid, "product_id": products[-1]["product_id"]})
                    )
                on = {
                    "price_on_property": [SIZE] if varied else [],
                    "quantity_on_property": [SIZE] if varied else [],
                    "sku_on_property": [SIZE] if varied else [],
                    "readiness_state_on_property": [],
                }
                self.listings[lid] = {"products": products, "on": on}
        self.store.seed(made, reset)
        return {item.sku: item.ids for item in made}

    # -- reads -----------------------------------------------------------------------------------

    def inventory(self, listing_id: int) -> dict[str, Any] | None:
        with self.store.lock:
            found = self.listings.get(listing_id)
            if found is None:
                return None
            products = []
            for p in found["products"]:
                o = p["offering"]
                held = self.store.listings.get(p["sku"])
                offering = {
                    "offering_id": o["offering_id"],
                    "quantity": held.quantity if held else 0,
                    "is_enabled": o["is_enabled"],
                    "is_deleted": False,
                    "readiness_state_id": o["readiness_state_id"],
                    "price": {"amount": o["cents"], "divisor": 100, "currency_code": "USD"},
                }
                products.append(
                    {
                        "product_id": p["product_id"],
                        "sku": p["sku"],
                        "is_deleted": False,
                        "property_values": copy.deepcopy(p["property_values"]),
                        "offerings": [offering],
                    }
                )
            return {"products": products, **copy.deepcopy(found["on"])}

    def listing_rows(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [
                {"listing_id": lid, "shop_id": self.shop_id, "state": "active", "title": f"Listing {lid}"}
                for lid in self.listings
            ]

    def price_of(self, sku: str) -> int:
        """The cents a SKU's offering asks now (tests check a seller's edit survives our writes)."""
        with self.store.lock:
            for found in self.listings.values():
                for p in found["products"]:
                    if p["sku"] == sku:
                        return int(p["offering"]["cents"])
        raise KeyError(sku)

    # -- writes ----------------------------------------------------------------------------------

    def replace(self, listing_id: int, body: dict[str, Any]) -> None:
        """``updateListingInventory``: the body becomes the inventory (products left out are gone)."""
        now = self.store.clock()
        with self.store.lock:
            old = {p["sku"]: p for p in self.listings[listing_id]["products"]}
            products = []
            for written in body["products"]:
                offer, before = written["offerings"][0], old.get(written["sku"])
                products.append(
                    {
                        "product_id": before["product_id"] if before else self._id(),
                        "sku": written["sku"],
                        "property_values": copy.deepcopy(written["property_values"]),
                        "offering": {
                            "offering_id": before["offering"]["offering_id"] if before else self._id(),
                            "cents": round(offer["price"] * 100),
                            "is_enabled": offer["is_enabled"],
                            "readiness_state_id": offer["readiness_state_id"],
                        },
                    }
                )
                held = self.store.listings.get(written["sku"])
                if held is None:
                    self.store.listings[written["sku"]] = Listing(
                        written["sku"], offer["quantity"], {"listing_id": listing_id}
                    )
                else:
                    held.quantity = offer["quantity"]
                self.store.received.append((now, written["sku"], offer["quantity"]))
            for sku in set(old) - {p["sku"] for p in products}:
                self.store.listings.pop(sku, None)
            on = {name: list(body.get(name, [])) for name in self.listings[listing_id]["on"]}
            self.listings[listing_id] = {"products": products, "on": on}

    def seller_edit(self, sku: str, cents: int) -> None:
        """The seller changes a price in Etsy's UI."""
        with self.store.lock:
            for found in self.listings.values():
                for p in found["products"]:
                    if p["sku"] == sku:
                        p["offering"]["cents"] = cents

    # -- receipts --------------------------------------------------------------------------------

    def receipt_for(self, order: SimOrder) -> dict[str, Any]:
        """A paid receipt for a sale the store accepted (units already off the listing)."""
        with self.store.lock:
            self._next_receipt += 1
            rid, at = self._next_receipt, int(order.t)
            rows = []
            for n, (sku, q) in enumerate(order.lines):
                ids = self.store.listings[sku].ids
                rows.append(
                    {
                        "transaction_id": rid * 10 + n,
                        "listing_id": ids.get("listing_id"),
                        "product_id": ids.get("product_id"),
                        "sku": sku,
                        "quantity": q,
                    }
                )
            receipt = {
                "receipt_id": rid,
                "status": "Paid",
                "is_paid": True,
                "is_shipped": False,
                "create_timestamp": at,
                "created_timestamp": at,
                "updated_timestamp": at,
                "update_timestamp": at,
                "transactions": rows,
            }
            self.receipts[rid] = receipt
            return copy.deepcopy(receipt)

    def cancel(self, receipt_id: int, restock: bool) -> None:
        """The seller cancels; each change is a whole second later than the last (Etsy's timestamps
        are seconds, and a change must be a newer version)."""
        with self.store.lock:
            receipt = self.receipts[receipt_id]
            if receipt["status"] != "Canceled" and restock:
                for row in receipt["transactions"]:
                    if row["sku"] in self.store.listings:
                        self.store.listings[row["sku"]].quantity += row["quantity"]
            at = max(int(self.store.clock()), receipt["updated_timestamp"] + 1)
            receipt.update(status="Canceled", updated_timestamp=at, update_timestamp=at)

    def receipt(self, receipt_id: int) -> dict[str, Any] | None:
        with self.store.lock:
            found = self.receipts.get(receipt_id)
            return copy.deepcopy(found) if found is not None else None

    def receipts_since(self, since: int) -> list[dict[str, Any]]:
        with self.store.lock:
            rows = sorted(self.receipts.values(), key=lambda r: (r["create_timestamp"], r["receipt_id"]))
            return [copy.deepcopy(r) for r in rows if r["updated_timestamp"] >= since]
