"""The Shopify simulator: an ASGI app as strict as the Admin GraphQL API and its webhooks."""
