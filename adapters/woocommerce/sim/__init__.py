"""The WooCommerce simulator: an ASGI app as strict as the REST API v3 and its webhooks."""
