"""The simulated WooCommerce store's catalog: products, variations and their stock, in REST v3 shapes.

Stock lives where core keeps it (woocommerce/woocommerce, plugins/woocommerce/includes/):

- a simple product, or a variation that manages its own stock, holds its own count;
- a variation whose parent manages stock (``manage_stock`` shown as ``"parent"``) has none of its
  own: ``WC_Product_Variation::get_manage_stock`` answers ``"parent"`` in view context when the
  variation's own flag is off and the parent's on, ``get_stock_quantity`` then answers the parent's
  count, and ``get_stock_managed_by_id`` names the parent, so orders reduce the parent
  (``wc_update_product_stock``, wc-stock-functions.php);
- a variation without a SKU of its own shows its parent's (``WC_Product_Variation::get_sku``, view
  context).

Writes follow the REST controllers: ``WC_REST_Product_Variations_Controller::prepare_object_for_database``
sets ``manage_stock`` when sent (``true`` on a parent-managed variation gives it stock of its own: the
pool is split, recorded in ``splits``), and sets ``stock_quantity`` whenever ``get_manage_stock()`` is
truthy, ``"parent"`` included, which for a parent-managed variation only writes its own unused
property (recorded in ``shadow``: the pool does not move); a variation managing no stock has its
quantity cleared. ``WC_REST_Products_Controller`` sets a product's ``stock_quantity`` only when it
manages stock, a variable parent's included.

The site has a timezone (``tz_offset_s``, UTC-5 by default): REST dates without ``_gmt`` are site
local time, the ``_gmt`` ones UTC, both without an offset and to the second
(``wc_rest_prepare_date_response``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from adapters.sim.core import Listing, SimulatedStore, listings_from

DEFAULT_TZ_OFFSET_S = -5 * 3600
"""The simulated site's timezone: UTC-5, so a store west of UTC is what the tests see by default."""


def wc_date(t: float, offset_s: int = 0) -> str:
    """A REST date: ``t`` to the second at ``offset_s`` from UTC, without an offset (0: the ``_gmt`` form)."""
    moment = datetime.fromtimestamp(int(t), UTC) + timedelta(seconds=offset_s)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds")


def parse_date(text: str, offset_s: int = 0) -> float:
    """Unix seconds of a REST date argument; one without an offset is read at ``offset_s`` from UTC.

    An unencoded ``+`` in a query string arrives as a space.
    """
    parsed = datetime.fromisoformat(text.strip().replace(" ", "+").replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone(timedelta(seconds=offset_s)))
    return parsed.timestamp()


def error(code: str, message: str, status: int, **data: Any) -> dict[str, Any]:
    """A WP REST error body."""
    return {"code": code, "message": message, "data": {"status": status, **data}}


@dataclass
class Parent:
    """A variable product. ``pool``: the listing holding its stock when it manages stock."""

    name: str
    sku: str = ""
    pool: str | None = None
    own_qty: int | None = None
    """Its count when it manages stock without a pool listing (a push switched it on)."""

    @property
    def manages(self) -> bool:
        return self.pool is not None or self.own_qty is not None


@dataclass
class Variation:
    """One variation. ``stock``: ``own`` (``listing`` holds it), ``parent`` or ``none``."""

    sku: str
    stock: str
    listing: str | None = None
    shadow: int | None = None
    """A ``stock_quantity`` written while parent-managed: stored by core, read by nothing."""
    own_qty: int | None = None
    """Its own count after a push split it from the parent's pool."""


@dataclass
class WooCatalog:
    """Simple products, variable parents and variations over a ``SimulatedStore``.

    Seed items ``{"sku", "quantity"}`` make simple products; with ``"group": G`` a variation of the
    variable product G. ``"stock"`` says where a variation's stock lives: ``"own"`` (default),
    ``"parent"`` (G manages stock: the item's quantity is G's pool, its SKU the pool's listing) or
    ``"none"`` (no stock managed: WooCommerce keeps no count). With ``"stock": "parent"`` and
    ``"inherit_sku": true`` the SKU is G's own and its ``"variations"`` (default 2) variations have
    none of their own (they show G's); without it one variation carries the SKU. Products and
    variations share one id space, as posts do. A listing's ``ids`` are what the catalog import
    should find: ``{"product_id"}`` for a simple product or a parent's pool, ``{"product_id",
    "variation_id"}`` for a variation with stock of its own (plus ``"enable_stock": true`` when it
    manages none, so a push must switch it on).
    """

    store: SimulatedStore
    parents: dict[int, Parent] = field(default_factory=dict)
    simple: dict[int, str] = field(default_factory=dict)
    variations: dict[tuple[int, int], Variation] = field(default_factory=dict)
    splits: list[tuple[int, int]] = field(default_factory=list)
    """Variations a write switched to stock of their own while their parent managed it."""
    next_id: int = 100
    _groups: dict[str, int] = field(default_factory=dict)

    def seed(self, items: list[dict[str, Any]], reset: bool) -> dict[str, dict[str, Any]]:
        if reset:
            self.parents.clear()
            self.simple.clear()
            self.variations.clear()
            self.splits.clear()
            self._groups.clear()
        listings: list[Listing] = []
        for raw in items:
            [listing] = listings_from([raw], self._assign)
            listing.manage_stock = raw.get("stock") != "none"
            listings.append(listing)
            self._index(listing, raw)
        self.store.seed(listings, reset)
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
        pid = self._groups[group]
        if item.get("stock") == "parent":
            return {"product_id": pid}
        ids: dict[str, Any] = {"product_id": pid, "variation_id": self._new_id()}
        if item.get("stock") == "none":
            ids["enable_stock"] = True
        return ids

    def _index(self, item: Listing, raw: Mapping[str, Any]) -> None:
        pid, vid = int(item.ids["product_id"]), item.ids.get("variation_id")
        self.next_id = max(self.next_id, pid, int(vid or 0))
        if not raw.get("group"):
            self.simple[pid] = item.sku
            return
        parent = self.parents.setdefault(pid, Parent(f"product-{pid}"))
        if raw.get("stock") == "parent":
            parent.pool = item.sku
            if raw.get("inherit_sku"):
                parent.sku = item.sku
                for _ in range(int(raw.get("variations", 2))):
                    self.variations[(pid, self._new_id())] = Variation("", "parent")
            else:
                self.variations[(pid, self._new_id())] = Variation(item.sku, "parent")
            return
        stock = "none" if raw.get("stock") == "none" else "own"
        self.variations[(pid, int(item.ids["variation_id"]))] = Variation(item.sku, stock, item.sku)

    # -- lookups ---------------------------------------------------------------------------------------

    def product_ids(self) -> list[int]:
        return sorted({*self.simple, *self.parents})

    def children(self, pid: int) -> list[int]:
        return sorted(vid for (p, vid) in self.variations if p == pid)

    def line_ids(self, sku: str) -> tuple[int, int]:
        """``(product_id, variation_id)`` of an order line for ``sku`` (a pool: its first variation)."""
        listing = self.store.listings.get(sku)
        if listing is None:
            return 0, 0
        pid, vid = int(listing.ids["product_id"]), int(listing.ids.get("variation_id") or 0)
        if not vid and pid in self.parents:
            kids = self.children(pid)
            vid = kids[0] if kids else 0
        return pid, vid

    def _pool_qty(self, parent: Parent) -> int | None:
        if parent.pool is not None:
            return self.store.listings[parent.pool].quantity
        return parent.own_qty

    # -- REST shapes -----------------------------------------------------------------------------------

    def product_json(self, pid: int) -> dict[str, Any]:
        if pid in self.simple:
            item = self.store.listings[self.simple[pid]]
            qty = item.quantity if item.manage_stock else None
            return {
                "id": pid,
                "name": item.sku,
                "type": "simple",
                "status": "publish",
                "sku": item.sku,
                "manage_stock": item.manage_stock,
                "stock_quantity": qty,
                "stock_status": "outofstock" if qty is not None and qty <= 0 else "instock",
                "variations": [],
            }
        parent = self.parents[pid]
        qty = self._pool_qty(parent)
        return {
            "id": pid,
            "name": parent.name,
            "type": "variable",
            "status": "publish",
            "sku": parent.sku,
            "manage_stock": parent.manages,
            "stock_quantity": qty,
            "stock_status": "instock",  # a variable product's status follows its children
            "variations": self.children(pid),
        }

    def variation_json(self, pid: int, vid: int) -> dict[str, Any]:
        var, parent = self.variations[(pid, vid)], self.parents[pid]
        manage: bool | str
        if var.stock == "own" and var.listing is not None:
            listing = self.store.listings[var.listing]
            manage, qty = listing.manage_stock, listing.quantity if listing.manage_stock else None
        elif var.stock == "own":
            manage, qty = True, var.own_qty
        elif var.stock == "parent" and parent.manages:
            manage, qty = "parent", self._pool_qty(parent)
        else:
            manage, qty = False, None
        return {
            "id": vid,
            "parent_id": pid,
            "status": "publish",
            "sku": var.sku or parent.sku,
            "manage_stock": manage,
            "stock_quantity": qty,
            "stock_status": "outofstock" if qty is not None and qty <= 0 else "instock",
        }

    # -- writes ----------------------------------------------------------------------------------------

    def update_product(self, pid: int, item: dict[str, Any], qty: int | None) -> dict[str, Any]:
        """A batch ``update`` item for a product (``WC_REST_Products_Controller``), already validated."""
        if pid in self.simple:
            listing = self.store.listings[self.simple[pid]]
            if "manage_stock" in item:
                listing.manage_stock = bool(item["manage_stock"])
            if qty is not None and listing.manage_stock:  # only a product managing stock keeps a count
                self.store.set_quantities([(listing.sku, qty)])
            return self.product_json(pid)
        parent = self.parents[pid]
        if item.get("manage_stock") is True and not parent.manages:
            parent.own_qty = 0
        elif item.get("manage_stock") is False:
            parent.pool, parent.own_qty = None, None
        if qty is not None and parent.manages:
            if parent.pool is not None:
                self.store.set_quantities([(parent.pool, qty)])
            else:
                parent.own_qty = qty
        return self.product_json(pid)

    def update_variation(self, pid: int, vid: int, item: dict[str, Any], qty: int | None) -> dict[str, Any]:
        """A batch ``update`` item for a variation (``WC_REST_Product_Variations_Controller``)."""
        var, parent = self.variations[(pid, vid)], self.parents[pid]
        listing = self.store.listings.get(var.listing) if var.listing else None
        if "manage_stock" in item:
            on = bool(item["manage_stock"])
            if on and var.stock == "parent":
                # the variation now keeps a count of its own: the parent's shared pool is split
                self.splits.append((pid, vid))
                var.stock, var.own_qty = "own", var.shadow
            elif listing is not None:
                listing.manage_stock = on
                var.stock = "own" if on else "none"
            elif not on and var.stock == "own":
                var.stock, var.own_qty = "parent", None
        if listing is not None:
            managed = listing.manage_stock
        elif var.stock == "parent":
            managed = parent.manages  # get_manage_stock() is "parent": truthy
        else:
            managed = var.stock == "own"
        if qty is not None and managed:
            if var.stock == "parent":
                var.shadow = qty  # set_stock_quantity on the variation's own, unused, property
            elif listing is not None:
                self.store.set_quantities([(listing.sku, qty)])
            else:
                var.own_qty = qty
        return self.variation_json(pid, vid)


def page_of(rows: list[Any], per_page: int, page: int) -> tuple[list[Any], dict[str, str]]:
    """One page and WP's ``X-WP-Total`` / ``X-WP-TotalPages`` headers."""
    pages = -(-len(rows) // per_page)
    headers = {"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(pages)}
    return rows[(page - 1) * per_page : page * per_page], headers
