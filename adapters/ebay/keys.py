"""Keys of ``kind = "ebay"`` channels, typed; registered with the engine's config on import.

The names are fixed by INTERFACE.md (``base_url`` is a common key: the REST API root that serves
the Inventory, Fulfillment and Notification APIs). ``webhook_secret``, a common key, is not used:
eBay signs notifications with its own ECDSA keys (``adapters.ebay.signature``).
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from engine.channel_keys import ChannelKeys, register


class EbayKeys(ChannelKeys):
    """Keys of ``kind = "ebay"`` channels (``adapters.ebay``)."""

    token_url: str | None = None
    """eBay's OAuth token endpoint (``https://api.ebay.com/identity/v1/oauth2/token``)."""
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    """The app's keyset and the seller's refresh token (user access tokens are minted from them;
    the client-credentials application token that reads notification public keys too)."""
    verification_token: SecretStr | None = None
    """The endpoint-validation token registered with eBay (the ``GET`` challenge's answer uses it)."""
    endpoint_url: str | None = None
    """This channel's webhook URL exactly as registered with eBay (part of the challenge's hash)."""
    max_batch: int | None = Field(None, ge=1, le=25)
    """SKUs per ``bulkUpdatePriceQuantity`` call (1: the conservative reading of conflicting docs;
    up to 25 where the account accepts it: ``adapters.ebay.outbound.per_call``)."""
    catalog_page_size: int | None = Field(None, ge=1, le=200)
    reconcile_page_size: int | None = Field(None, ge=1, le=200)
    """Inventory items or orders per page when reading (100; getInventoryItems allows 200,
    getOrders 200)."""


register(
    "ebay",
    EbayKeys,
    secrets=("client_id", "client_secret", "refresh_token", "verification_token"),
)
