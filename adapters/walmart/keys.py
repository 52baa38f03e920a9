"""Keys of ``kind = "walmart"`` channels, typed; registered with the engine's config on import.

Names follow INTERFACE.md: Walmart's own for its credentials (``client_id``, ``client_secret``,
``authHeaderName`` as ``auth_header_name``), ``base_url`` for the API root
(``https://marketplace.walmartapis.com``), ``token_url`` for the token endpoint. ``webhook_secret``
(a common key) is what the seller gave the subscription: the HMAC key (the client secret), the
bearer token, or the basic-auth password.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from engine.channel_keys import ChannelKeys, register


class WalmartKeys(ChannelKeys):
    """Keys of ``kind = "walmart"`` channels (``adapters.walmart``)."""

    token_url: str | None = None
    """Token API (``{base_url}/v3/token``: client credentials, HTTP Basic)."""
    client_id: str | None = None
    client_secret: SecretStr | None = None
    service_name: str | None = Field(None, min_length=1, max_length=100)
    """``WM_SVC.NAME`` sent with every call ("Walmart Marketplace")."""
    ship_node: str | None = Field(None, min_length=1, max_length=100)
    """Push to this ship node (``PUT /v3/inventories/{sku}``); unset: the default ship node
    (``PUT /v3/inventory?sku=``). Listed quantities are this node's."""
    auth_method: Literal["hmac", "basic", "bearer"] | None = None
    """How the seller's event subscription authenticates deliveries (hmac)."""
    auth_header_name: str | None = Field(None, min_length=1, max_length=100)
    """The subscription's ``authHeaderName``: the header carrying it (Authorization)."""
    webhook_username: str | None = Field(None, min_length=1, max_length=200)
    """Basic auth's user name (``auth_method = "basic"``; the password is ``webhook_secret``)."""
    hmac_encoding: Literal["base64", "hex"] | None = None
    """How the HMAC digest is written in the header: Walmart does not say (base64)."""
    feed_min_items: int | None = Field(None, ge=0, le=10_000)
    """A push backlog of at least this many SKUs goes as one bulk inventory feed (500; 0: never)."""
    feed_max_items: int | None = Field(None, ge=2, le=1_000)
    """SKUs a feed carries (1000: what one feed-status page details)."""
    feed_poll_s: float | None = Field(None, gt=0, le=600)
    """Pause between feed-status polls (15)."""
    feed_timeout_s: float | None = Field(None, gt=0, le=7200)
    """Give up polling a feed after this long and send its SKUs again (1800: Walmart's 30 minutes)."""
    feeds_per_hour: float | None = Field(None, gt=0, le=3600)
    """Feed submissions allowed an hour (10, the bulk inventory feed's published limit)."""
    catalog_page_size: int | None = Field(None, ge=1, le=50)
    reconcile_page_size: int | None = Field(None, ge=1, le=200)
    """Pages of ``GET /v3/inventories`` (50) and ``GET /v3/orders`` (100; at most 200, and
    inventories at most 50 whatever this says)."""


register("walmart", WalmartKeys, secrets=("client_id", "client_secret", "webhook_username"))
