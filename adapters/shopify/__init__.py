"""Shopify: order webhooks in (HMAC-SHA256 over the raw body), inventory quantities out."""

from adapters.shopify.inbound import ShopifyInbound
from adapters.shopify.outbound import ShopifyOutbound
from adapters.shopify.reconcile import ShopifyReconcile

INBOUND = ShopifyInbound()
OUTBOUND = ShopifyOutbound()
RECONCILE = ShopifyReconcile()
