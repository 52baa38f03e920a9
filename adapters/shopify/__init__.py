"""Shopify: order webhooks in (HMAC-SHA256 over the raw body), inventory quantities out."""

from adapters.shopify.inbound import ShopifyInbound
from adapters.shopify.outbound import ShopifyOutbound

INBOUND = ShopifyInbound()
OUTBOUND = ShopifyOutbound()
