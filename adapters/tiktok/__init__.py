"""TikTok Shop: signed webhooks in (the order fetched), Update Inventory out, order and inventory reads.

Inbound (``inbound``, ``signing``, ``orders``): ``Authorization`` = hex HMAC-SHA256(app_secret,
app_key + raw body), checked in constant time over the raw bytes before parsing; order
notifications (type 1, and 11) are thin, so the order is fetched with Get Order Detail (the gateway
decodes on a worker thread: ``calls_out``) and becomes a versioned document keyed by
``tts_notification_id`` and its version. Other types are answered 200 and ignored.

Outbound (``outbound``, ``api``, ``tokens``): ``POST /product/202309/products/{product_id}/
inventory/update``, the SKUs of one product per call, each SKU judged by ``data.errors[]`` even when
``code`` is 0; every request signed as the Open API documents it (``signing.request_sign``), the
access token refreshed from ``refresh_token`` before it expires. Reads (``reconcile``,
``catalog``): Search Orders since a time, Search Products and Inventory Search.

Unverified, each one function or constant: ``orders.holds_stock`` (UNPAID holds),
``orders.line_units`` (one unit per line item, a CANCELLED line none), ``orders.order_version``
(``update_time``, whole seconds), ``orders.cancel_restocks``, ``inbound.ORDER_TYPES`` (type 11),
``outbound.per_call`` (100 SKUs), ``outbound.error_sku`` (where an error names its SKU),
``api.throttled`` / ``api.THROTTLE_CODES`` (HTTP 429 or code 36009004), ``tokens.expiry``
(``access_token_expire_in`` as a time or a TTL), and the rate: unpublished, a guess of 10
requests/s (``rate_limit`` sets the shop's).
Not built: return and refund notifications (type 12: units a return brings back are the seller's
call), several warehouses per SKU (one is pushed: ``warehouse_id`` or the SKU's first), the global
product (cross-border) inventory API.
"""

from adapters.tiktok.inbound import TikTokInbound
from adapters.tiktok.outbound import TikTokOutbound
from adapters.tiktok.reconcile import TikTokReconcile

INBOUND = TikTokInbound()
OUTBOUND = TikTokOutbound()
RECONCILE = TikTokReconcile()
