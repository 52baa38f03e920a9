"""Walmart Marketplace: order events in, inventory out, Orders and Inventory API reads.

Inbound (``inbound``, ``auth``, ``events``): the event subscription's credential as the seller
configured it (HMAC-SHA256 of the raw body keyed by the client secret, or basic, or bearer, in the
header the seller named: ``auth_method``, ``auth_header_name``), compared in constant time before
parsing; then ``PO_CREATED`` as ``order_placed`` and ``ORDER_UPDATES`` by ``subEventType``
(``PO_LINE_AUTOCANCELLED`` as ``order_updated`` or ``order_cancelled``, ``FRAUD_CANCEL`` as
``order_cancelled``, ``INTENT_TO_CANCEL`` noted only), keyed by ``source.eventId``, versioned by
``source.eventTime``. Line units are ``quantity.measurementValue``, a numeric string.

Outbound (``outbound``, ``feed``, ``tokens``): ``PUT /v3/inventory?sku=`` (or ``PUT
/v3/inventories/{sku}`` for ``ship_node``), one SKU a call, client-credential tokens refreshed
before expiry; a backlog of ``feed_min_items`` SKUs or more as one bulk inventory feed, polled to
its end, items mapped back to SKUs. 429 waits ``Retry-After``; ``X-Current-Token-Count`` lowers
the budget. Reads (``reconcile``, ``orders``, ``inventory``): ``GET /v3/orders?
lastModifiedStartDate=`` and ``GET /v3/inventories`` (paged).

Unverified or disputed, each one function or key: ``auth.digest_text`` (HMAC digest encoding,
``hmac_encoding``: base64 or hex), ``events.line_units`` (``EACH``/``EA`` units, whole numbers),
``events.line_cancelled`` (how an ``ORDER_UPDATES`` line shows it is cancelled),
``events.event_version`` (``eventTime`` ISO or epoch ms), ``orders.line_held`` (cancelled status
quantities), ``inventory.listed_amount`` (``inputQty`` is what a listing shows), the multi-node
feed's ``feedType`` (``MP_INVENTORY``, in ``feed.request``), and the default rate
(``outbound.WalmartOutbound.default_rate_guess``). Not built: Walmart's performance webhooks
(``WM_SEC.SIGNATURE`` over method, path, timestamp and body hash), returns and refunds, a
notification for seller-initiated cancels (reconciliation's order backfill reads them).
"""

from adapters.walmart.inbound import WalmartInbound
from adapters.walmart.outbound import WalmartOutbound
from adapters.walmart.reconcile import WalmartReconcile

INBOUND = WalmartInbound()
OUTBOUND = WalmartOutbound()
RECONCILE = WalmartReconcile()
