"""The simulated WooCommerce store's catalog: products, variations and orders in REST v3 shapes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.sim_core import Listing, SimOrder, SimulatedStore, listings_from


def wc_date(t: float) -> str:
    """WooCommerce's date form (no offset); the simulated site's timezone is UTC."""
    return datetime.fromtimestamp(t, UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def parse_date(text: str) -> float:
    # An unencoded "+" in a query string arrives as a space.
    parsed = datetime.fromisoformat(text.replace(" ", "+").replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def error(code: str, message: str, status: int, **data: Any) -> dict[str, Any]:
    """A WP REST error body."""
    return {"code": code, "message": message, "data": {"status": status, **data}}


@dataclass
class WooCatalog:
    """Products (simple and variable parents) and variations over a ``SimulatedStore``.

    Simple products and variations are listings; a listing's ``ids`` are ``{"product_id"}`` or
    ``{"product_id", "variation_id"}``. Variable parents only group variations: their own stock is
    not modelled (``manage_stock`` false). Products and variations share one id space, as posts do.
    """

    store: SimulatedStore
    parents: dict[int, str] = field(default_factory=dict)
    simple: dict[int, str] = field(default_factory=dict)
    variations: dict[tuple[int, int], str] = field(default_factory=dict)
    next_id: int = 100
    _groups: dict[str, int] = field(default_factory=dict)

    def seed(self, items: list[dict[str, Any]], reset: bool) -> dict[str, dict[str, Any]]:
        """Items ``{"sku", "quantity", "group"?, "ids"?}``: a ``group`` makes the SKU a variation of it."""
        if reset:
            self.parents.clear()
            self.simple.clear()
            self.variations.clear()
            self._groups.clear()
        listings = listings_from(items, self._assign)
        self.store.seed(listings, reset)
        for item in listings:
            self._index(item)
        return {item.sku: item.ids for item in listings}

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _assign(self, item: Mapping[str, Any]) -> dict[str, Any]:
        group = item.get("group")
        if not group:
            return {"product_id": self._new_id()}
        if group not in self._groups:
            self._groups[group] = self._new_id()
        return {"product_id": self._groups[group], "variation_id": self._new_id()}

    def _index(self, item: Listing) -> None:
        pid, vid = int(item.ids["product_id"]), item.ids.get("variation_id")
        self.next_id = max(self.next_id, pid, int(vid or 0))
        if vid is None:
            self.simple[pid] = item.sku
        else:
            self.parents.setdefault(pid, f"product-{pid}")
            self.variations[(pid, int(vid))] = item.sku

    # -- REST shapes ---------------------------------------------------------------------------------

    def stock_json(self, item: Listing) -> dict[str, Any]:
        qty = item.quantity if item.manage_stock else None
        in_stock = not item.manage_stock or item.quantity > 0
        return {
            "sku": item.sku,
            "manage_stock": item.manage_stock,
            "stock_quantity": qty,
            "stock_status": "instock" if in_stock else "outofstock",
        }

    def product_json(self, pid: int) -> dict[str, Any]:
        if pid in self.simple:
            item = self.store.listings[self.simple[pid]]
            return {
                "id": pid,
                "name": item.sku,
                "type": "simple",
                "status": "publish",
                "variations": [],
                **self.stock_json(item),
            }
        kids = sorted(vid for (p, vid) in self.variations if p == pid)
        name = self.parents[pid]
        return {
            "id": pid,
            "name": name,
            "type": "variable",
            "status": "publish",
            "sku": name,
            "manage_stock": False,
            "stock_quantity": None,
            "stock_status": "instock",
            "variations": kids,
        }

    def variation_json(self, pid: int, vid: int) -> dict[str, Any]:
        item = self.store.listings[self.variations[(pid, vid)]]
        return {"id": vid, "parent_id": pid, "status": "publish", **self.stock_json(item)}

    def product_ids(self) -> list[int]:
        return sorted({*self.simple, *self.parents})

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        """The REST order resource (also the ``order.created`` webhook body)."""
        at = wc_date(order.t)
        lines = []
        for i, (sku, qty) in enumerate(order.lines):
            ids = self.store.listings[sku].ids if sku in self.store.listings else {}
            lines.append(
                {
                    "id": order.order_id * 1000 + i,
                    "name": sku,
                    "product_id": ids.get("product_id", 0),
                    "variation_id": ids.get("variation_id", 0),
                    "quantity": qty,
                    "sku": sku,
                    "total": "0.00",
                }
            )
        return {
            "id": order.order_id,
            "parent_id": 0,
            "status": "processing",
            "currency": "USD",
            "date_created": at,
            "date_created_gmt": at,
            "date_modified": at,
            "date_modified_gmt": at,
            "line_items": lines,
        }


def page_of(rows: list[Any], per_page: int, page: int) -> tuple[list[Any], dict[str, str]]:
    """One page and WP's ``X-WP-Total`` / ``X-WP-TotalPages`` headers."""
    pages = -(-len(rows) // per_page)
    headers = {"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(pages)}
    return rows[(page - 1) * per_page : page * per_page], headers
