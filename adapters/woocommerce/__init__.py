"""WooCommerce: order webhooks in (HMAC-SHA256 over the raw body), product stock quantities out."""

from adapters.woocommerce.inbound import WooCommerceInbound
from adapters.woocommerce.outbound import WooCommerceOutbound
from adapters.woocommerce.reconcile import WooCommerceReconcile

INBOUND = WooCommerceInbound()
OUTBOUND = WooCommerceOutbound()
RECONCILE = WooCommerceReconcile()
