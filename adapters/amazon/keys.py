"""Keys of ``kind = "amazon"`` channels, typed; registered with the engine's config on import.

The names are fixed by INTERFACE.md; ``base_url`` and ``webhook_secret`` (the relay's signing
secret) are common keys.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from engine.channel_keys import ChannelKeys, register


class AmazonKeys(ChannelKeys):
    """Keys of ``kind = "amazon"`` channels (``adapters.amazon``)."""

    token_url: str | None = None
    """Login with Amazon token endpoint (``https://api.amazon.com/auth/o2/token``)."""
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    """The LWA app credentials and the seller's refresh token (access tokens are fetched from them)."""
    seller_id: str | None = Field(None, min_length=1)
    """The selling partner id in listings paths; notifications for another seller are refused."""
    marketplace_id: str | None = Field(None, min_length=1)
    """The store listings are patched and read in (``ATVPDKIKX0DER``: amazon.com)."""
    product_type: str | None = Field(None, min_length=1)
    """``productType`` sent with every listing patch (else the listing's own, from the catalog import)."""
    catalog_page_size: int | None = Field(None, ge=1, le=20)
    """``searchListingsItems`` ``pageSize`` of the catalog import (20, the operation's maximum)."""
    reconcile_page_size: int | None = Field(None, ge=1, le=100)
    """Reconciliation's pages: ``searchOrders`` ``maxResultsPerPage`` (100, its maximum); listed
    quantities take at most 20 a page (``searchListingsItems``' maximum)."""

    feed_min_items: int | None = Field(None, ge=0, le=25_000)
    """A push backlog of at least this many SKUs goes as one ``JSON_LISTINGS_FEED`` (500; 0: never)."""
    feed_max_items: int | None = Field(None, ge=2, le=25_000)
    """SKUs a feed carries (25,000: the feed's maximum)."""
    feed_patch_reserve: int | None = Field(None, ge=0, le=25_000)
    """The most urgent pending SKUs kept out of a feed and patched (100; ``outbound.PATCH_RESERVE``)."""
    feed_poll_s: float | None = Field(None, gt=0, le=600)
    """Pause between ``getFeed`` polls (30)."""
    feed_timeout_s: float | None = Field(None, gt=0, le=86_400)
    """Give up on a feed after this long, cancel it if still queued and send its SKUs again (3600)."""


register("amazon", AmazonKeys, secrets=("client_id", "client_secret", "refresh_token"))
