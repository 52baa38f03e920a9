"""Etsy (Open API v3): receipts in by webhook or by polling, listing inventories out, receipts and
inventories read.

Inbound (``inbound``, ``signature``, ``receipts``): a delivery signed per Standard Webhooks (timestamp
inside the signature, 300 s tolerance) names a receipt; the receipt is fetched (``getShopReceipt``)
and becomes one versioned order document keyed by its state: ``order_placed`` while it holds units,
``order_cancelled`` (restocking per ``cancel_restocks``) once Canceled. Only ``event_types`` are
handled (``order.paid``). Without webhooks (commercial-access apps only), ``poll_every_s`` makes the
supervisor's scheduled reconciliation, whose ``getShopReceipts(min_last_modified)`` backfill is the
poll, run that often on the channel's budget share: no hook outside this package.

Outbound (``outbound``, ``inventory``, ``auth``): ``updateListingInventory`` replaces the whole
inventory, so each write is a fresh read then a write of everything read, only our SKUs' quantities
changed; one request per listing at a time; 10 requests/s; ``x-remaining-*`` headers lower the
budget. Reads (``reconcile``): ``getShopReceipts`` by ``min_last_modified``, active listings'
inventories (``getListingsByShop`` + ``getListingInventory``).

Unverified, each one key or function: the signature (``signature_scheme``,
``signature_secret_encoding``, ``signature_tolerance_s``), event names beyond ``order.paid``
(``event_types``), ``receipts.version`` (``updated_timestamp``, whole seconds), ``receipts.cancelled``
and ``cancel_restocks``, ``auth.api_key`` (keystring or ``keystring:shared_secret``).
Not built: refresh-token rotation, renewing sold-out listings (Etsy charges a renewal; only active
listings are imported), the day quota as a budget of its own (it only lowers the budget through
``x-remaining-today``), a write conditional on what was read (Etsy has none).
"""

from adapters.etsy.inbound import EtsyInbound
from adapters.etsy.outbound import EtsyOutbound
from adapters.etsy.reconcile import EtsyReconcile

INBOUND = EtsyInbound()
OUTBOUND = EtsyOutbound()
RECONCILE = EtsyReconcile()
