"""The simulator's Inventory API and bulk feed routes (rules and sources in ``sim.app``, ``sim.feeds``)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from adapters.sim.core import SimulatedStore
from adapters.walmart.sim import feeds


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, code: str, description: str) -> Response:
    return _json({"errors": [{"code": code, "description": description, "severity": "ERROR"}]}, status)


def _each(amount: int) -> dict[str, Any]:
    return {"unit": "EACH", "amount": amount}


async def _body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None


class InventoryRoutes:
    """Mixed into ``WalmartSimulator``: the handlers of its inventory and feed routes."""

    store: SimulatedStore
    ship_node: str
    feeds: dict[str, feeds.Feed]
    feed_delay_s: float
    feed_max_items: int

    def _nodes(self, sku: str) -> list[str]:
        return list(self.store.listings[sku].ids.get("nodes") or [self.ship_node])

    def _record(self, sku: str) -> dict[str, Any]:
        q = self.store.listings[sku].quantity
        nodes = [
            {"shipNode": n, "inputQty": _each(q), "availToSellQty": _each(q), "reservedQty": _each(0)}
            for n in self._nodes(sku)
        ]
        return {"sku": sku, "nodes": nodes}

    async def put_one(self, request: Request) -> Response:
        sku = request.query_params.get("sku")
        if not sku:
            return _error(400, "INVALID_REQUEST_PARAM", "sku is required")
        body = await _body(request)
        quantity = feeds.amount_of(body.get("quantity")) if isinstance(body, dict) else None
        if not isinstance(body, dict) or body.get("sku") != sku or quantity is None:
            return _error(
                400, "INVALID_REQUEST_CONTENT", "body needs this sku and quantity {unit EACH, amount}"
            )
        if sku not in self.store.listings:
            return _error(404, "CONTENT_NOT_FOUND.GMP_INVENTORY_API", f"sku {sku} not found")
        self.store.set_quantities([(sku, quantity)])
        return _json({"sku": sku, "quantity": _each(quantity)})

    async def get_one(self, request: Request) -> Response:
        sku = request.query_params.get("sku", "")
        if sku not in self.store.listings:
            return _error(404, "CONTENT_NOT_FOUND.GMP_INVENTORY_API", f"sku {sku} not found")
        return _json({"sku": sku, "quantity": _each(self.store.listings[sku].quantity)})

    async def put_nodes(self, request: Request) -> Response:
        sku = request.path_params["sku"]
        body = await _body(request)
        nodes = ((body.get("inventories") or {}).get("nodes")) if isinstance(body, dict) else None
        if not isinstance(nodes, list) or not nodes or not all(isinstance(n, dict) for n in nodes):
            return _error(400, "INVALID_REQUEST_CONTENT", "inventories.nodes must be a non-empty list")
        if sku not in self.store.listings:
            return _error(404, "CONTENT_NOT_FOUND.GMP_INVENTORY_API", f"sku {sku} not found")
        answers, known = [], self._nodes(sku)
        for node in nodes:
            quantity = feeds.amount_of(node.get("inputQty"))
            if node.get("shipNode") not in known or quantity is None:
                errors = [
                    {"code": "INVALID_SHIP_NODE_OR_QUANTITY", "description": "unknown node or bad inputQty"}
                ]
                answers.append({"shipNode": node.get("shipNode"), "status": "Failed", "errors": errors})
                continue
            self.store.set_quantities([(sku, quantity)])  # the simulator lists one quantity a SKU
            answers.append({"shipNode": node["shipNode"], "status": "Success"})
        return _json({"sku": sku, "nodes": answers})

    async def get_all(self, request: Request) -> Response:
        try:
            size, start = (
                int(request.query_params.get("limit", "10")),
                int(request.query_params.get("nextCursor", "0")),
            )
        except ValueError:
            size, start = 0, 0
        if not 1 <= size <= 50:
            return _error(400, "INVALID_REQUEST_PARAM", "limit must be 1..50")
        with self.store.lock:
            skus = list(self.store.listings)
            page = [self._record(s) for s in skus[start : start + size]]
        meta: dict[str, Any] = {"totalCount": len(skus)}
        if start + size < len(skus):
            meta["nextCursor"] = str(start + size)
        return _json({"meta": meta, "elements": {"inventories": page}})

    async def submit_feed(self, request: Request) -> Response:
        kind = request.query_params.get("feedType")
        if kind not in ("inventory", "MP_INVENTORY"):
            return _error(400, "INVALID_REQUEST_PARAM", "feedType must be inventory or MP_INVENTORY")
        if int(request.headers.get("content-length") or 0) > feeds.MAX_BYTES:
            return _error(413, "PAYLOAD_TOO_LARGE", "the feed file is over 5 MB")
        raw = feeds.multipart_file(request.headers.get("content-type", ""), await request.body())
        if raw is None:
            return _error(400, "INVALID_REQUEST_CONTENT", "the feed file must be the multipart part 'file'")
        items = feeds.parse_file(raw, kind == "MP_INVENTORY")
        if isinstance(items, str):
            return _error(400, "INVALID_REQUEST_CONTENT", items)
        if len(items) > self.feed_max_items:
            return _error(400, "INVALID_REQUEST_CONTENT", f"at most {self.feed_max_items} items a feed")
        feed = feeds.Feed(feeds.new_id(), items, kind == "MP_INVENTORY", self.store.clock())
        with self.store.lock:
            self.feeds[feed.feed_id] = feed
        return _json({"feedId": feed.feed_id}, 202)

    async def feed_status(self, request: Request) -> Response:
        feed = self.feeds.get(request.path_params["feed_id"])
        if feed is None:
            return _error(404, "CONTENT_NOT_FOUND.GMP_FEED_API", "no such feed")
        params = request.query_params
        limit, offset = int(params.get("limit", "50")), int(params.get("offset", "0"))
        if not 1 <= limit <= 1000:
            return _error(400, "INVALID_REQUEST_PARAM", "limit must be 1..1000")
        return _json(feeds.status_body(feed, params.get("includeDetails") == "true", offset, limit))

    def _process_feeds(self) -> None:
        """Apply every feed whose processing time has come, once."""
        now = self.store.clock()
        due = [
            f
            for f in self.feeds.values()
            if f.status == "INPROGRESS" and now - f.submitted >= self.feed_delay_s
        ]
        for feed in due:
            applied: list[tuple[str, int]] = []
            for index, item in enumerate(feed.items):
                sku, error = item.get("sku"), self._feed_item_error(item, feed.node_spec)
                feed.results.append(feeds.item_result(sku, index, error))
                if not error:
                    applied.append((str(sku), self._feed_amount(item, feed.node_spec)))
            self.store.set_quantities(applied)
            feed.status = "PROCESSED"

    def _feed_item_error(self, item: dict[str, Any], node_spec: bool) -> str:
        sku = item.get("sku")
        if not isinstance(sku, str) or sku not in self.store.listings:
            return f"sku {str(sku)[:60]} not found"
        if node_spec:
            nodes = item.get("shipNodes")
            if not isinstance(nodes, list) or len(nodes) != 1 or not isinstance(nodes[0], dict):
                return "shipNodes must name one node (the simulator lists one quantity a SKU)"
            if nodes[0].get("shipNode") not in self._nodes(sku):
                return "unknown ship node"
        return "" if self._feed_amount(item, node_spec) >= 0 else "quantity must be {unit EACH, amount >= 0}"

    def _feed_amount(self, item: dict[str, Any], node_spec: bool) -> int:
        holder = item["shipNodes"][0] if node_spec else item
        amount = feeds.amount_of(holder.get("quantity"))
        return -1 if amount is None else amount
