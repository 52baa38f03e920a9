"""eBay: Notification API sales in, Inventory and Trading API quantities out, and their reads.

Inbound (``inbound``, ``signature``, ``public_keys``, ``notifications``): ``X-EBAY-SIGNATURE``
checked with ECDSA against the key ``getPublicKey`` serves for its ``kid`` (cached; a miss fetched
once, bounded, in the request), then ``ORDER_CONFIRMATION`` as an ``order_placed`` document keyed
by ``notificationId``, its lines' listings mapped to SKUs (learned from ``getOrder`` on a miss:
the catalog import's map lives in the channel actor, which the gateway cannot read). Other topics
are answered 200 and ignored. ``GET`` ``challenge_code`` is answered (``inbound.challenge``).

Outbound (``outbound``, ``oauth``, ``revisions``, ``trading``): ``bulkUpdatePriceQuantity``, one
value in both quantity fields, user tokens refreshed before expiry, revisions counted per listing;
listings not made through the Inventory API (named by the channel's ``trading_listings``) by Trading
``ReviseInventoryStatus``, 4 a call, within the Trading API's own daily calls (``trading_daily_calls``).
Reads (``reconcile``, ``inventory``, ``orders``, ``selling``): ``getOrders`` by ``lastmodifieddate``,
inventory items with their offers, Trading listings from ``GetMyeBaySelling``'s active list.

Unverified, each one function: ``signature.signed_messages`` (raw body or the SDK's re-serialised
JSON: both accepted), ``outbound.per_call`` (1 SKU a call unless ``max_batch`` says more),
``orders.cancelled`` and ``orders.cancel_restocks``, ``revisions.Revisions.window_s`` (rolling 24 h);
in ``trading``: the call-limit, system and token error codes, ``COMPATIBILITY_LEVEL``, whether a
SKU-tracked single listing takes ItemID and SKU together; in ``selling``: a variation's quantity
(not read). Not built: finding Trading listings without the seller naming them (``GetMyeBaySelling``
could list them), a notification topic for cancels or refunds (reconciliation's ``getOrders``
backfill brings cancels), coalescing harder near the revision limit.
"""

from adapters.ebay.inbound import EbayInbound
from adapters.ebay.outbound import EbayOutbound
from adapters.ebay.reconcile import EbayReconcile

INBOUND = EbayInbound()
OUTBOUND = EbayOutbound()
RECONCILE = EbayReconcile()
