"""The one Flipkart call the gateway makes: the shipment a ``shipment_cancelled`` names.

``shipment_cancelled`` lists order item ids and cancelled units, no SKU (api-docs NotifRef), so the
gateway reads the shipment: ``GET /sellers/v3/shipments?shipmentIds=<id>`` (``shipments[]`` with
``orderItems[{orderItemId, sku, quantity, status}]`` and ``updatedAt``; order-api-docs/v3
GetByShipmentIds). It runs on a gateway worker thread (``FlipkartInbound.calls_out``), at most
``FETCH_TIMEOUT_S`` a call; a 401 drops the token and tries once more.
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters import blocking_http
from adapters.base import AdapterError
from adapters.flipkart import oauth
from adapters.flipkart.api import url
from engine.config import ChannelConfig

PATH = "/sellers/v3/shipments"
FETCH_TIMEOUT_S = 2.0


def shipment_sync(channel: ChannelConfig, shipment_id: str) -> dict[str, Any]:
    """The shipment as Flipkart lists it now; ``AdapterError`` saying why not."""
    tokens = oauth.tokens_for(channel)
    status = 0
    for attempt in range(2):
        try:
            token = tokens.ensure_sync(FETCH_TIMEOUT_S)
            with blocking_http.client(FETCH_TIMEOUT_S) as client:
                response = client.get(
                    url(channel, PATH),
                    params={"shipmentIds": shipment_id},
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                )
        except (oauth.TokenError, httpx.HTTPError) as exc:
            raise AdapterError(f"shipment read failed ({type(exc).__name__})") from None
        status = response.status_code
        if status == 401 and attempt == 0:
            tokens.forget(token)
            continue
        if status != 200:
            break
        body = response.json()
        found = body.get("shipments") if isinstance(body, dict) else None
        for shipment in found if isinstance(found, list) else []:
            if isinstance(shipment, dict) and shipment.get("shipmentId") == shipment_id:
                return shipment
        raise AdapterError("shipment not found")
    raise AdapterError(f"shipment read answered HTTP {status}")
