"""Flipkart Marketplace Seller API: order notifications in, listing inventory out.

Inbound (``inbound``, ``signature``, ``notifications``, ``fetch``): FKLOGIN-signed notifications
(``X_Authorization: FKLOGIN base64(appId:SHA-1(X_Date + our URL + method + app secret))``; the body
is not signed, so ``X_Date`` must be fresh). The order document is the shipment.
``shipment_created`` is an ``order_placed`` of its SKU lines; ``shipment_cancelled`` names order
items, not SKUs, so the gateway reads the shipment (on a worker thread) and sends its state as a
newer version (``order_updated``) or, all items cancelled, ``order_cancelled`` with restock. Every
other event is acknowledged with 200 and moves nothing, and so is a signed one we cannot read
(with a note; backfill reads the shipment): an unacknowledged event blocks its group.

Outbound (``outbound``): ``update/inventory``, 10 SKUs a call, each SKU judged by its own status.
Reads (``reconcile``, ``listings``, ``orders``): ``shipments/filter`` since T, listings through
``product/search`` and ``GET /listings/v3/{skuIds}``. Tokens: client credentials (``oauth``).

Unverified or disputed, each one function or key: ``signature.encode`` (hex or base64 SHA-1:
``signature_encoding``), the ``X_Date`` window (``date_tolerance_s``, 300 s),
``notifications.event_version`` (``updatedAt`` else ``timestamp``), ``orders.units``
(whole floats), ``orders.held`` and ``orders.cancel_restocks``, ``listings.location`` (which
location is synced: ``location_id``), and the push rate (``default_rate_guess``: none published).
"""

from adapters.flipkart.inbound import FlipkartInbound
from adapters.flipkart.outbound import FlipkartOutbound
from adapters.flipkart.reconcile import FlipkartReconcile

INBOUND = FlipkartInbound()
OUTBOUND = FlipkartOutbound()
RECONCILE = FlipkartReconcile()
