"""Amazon Selling Partner API: notifications in through the seller's relay, listing quantities out.

Inbound (``inbound``, ``notifications``): ``ORDER_CHANGE`` (SQS) and
``LISTINGS_ITEM_MFN_QUANTITY_CHANGE`` (EventBridge) bodies as the seller's relay forwards them,
signed per the relay convention (``relay``: timestamped HMAC, 300 s tolerance, so old captures are
refused). ``NotificationId`` is the idempotency key. An order change becomes a versioned order
document: Pending and PendingAvailability as ``order_placed``, Unshipped, PartiallyShipped,
Shipped, InvoiceUnconfirmed and Unfulfillable as ``order_updated`` (units held), Canceled as
``order_cancelled`` with restock; a buyer-requested cancel is only noted (Amazon waits for the
seller). Orders fulfilled by Amazon (AFN) are ignored. An ``ORDER_CHANGE`` without ``Summary`` is
read through ``getOrder`` (Orders v2026-01-01) on the gateway's worker threads, within the
operation's 0.5/s burst 30 per seller, and mapped by the same parser as ``searchOrders`` rows
(``order_fetch``, ``orders``); a read that stays throttled is answered 5xx so the relay delivers it
again. An MFN quantity change is a ``channel_quantity_reported`` event: noted beside master's
count, never a move of stock.

Outbound (``outbound``): ``patchListingsItem`` ``merge`` of ``fulfillment_availability``, one SKU
a request, 5/s burst 5, LWA tokens (``lwa``) refreshed before expiry; a backlog of 500 SKUs or
more as one ``JSON_LISTINGS_FEED`` (up to 25,000, 5 feeds per 5 minutes: ``feed``, ``feed_flow``).
Reads (``reconcile``, ``listings``): ``searchOrders`` (v2026-01-01) and ``searchListingsItems``.

Unverified, each one function: ``notifications.unwrap`` (a relay may forward EventBridge's whole
event or its ``detail``), ``notifications.holds_stock`` (Pending holds units),
``notifications.order_version`` and ``orders.channel_order``'s version (``TimeOfOrderChange`` vs
``lastUpdatedTime``), ``order_fetch.fetched_version`` (a fetched order's version, and when a read
lags the notification), ``notifications.line_units`` and ``orders.item_units`` (how a partly
cancelled item shows), ``outbound.product_type`` (which productType an offer-only patch takes).
"""

from adapters.amazon.inbound import AmazonInbound
from adapters.amazon.outbound import AmazonOutbound
from adapters.amazon.reconcile import AmazonReconcile

INBOUND = AmazonInbound()
OUTBOUND = AmazonOutbound()
RECONCILE = AmazonReconcile()
