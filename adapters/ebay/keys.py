"""Keys of ``kind = "ebay"`` channels, typed; registered with the engine's config on import.

The names are fixed by INTERFACE.md (``base_url`` is a common key: the REST API root that serves
the Inventory, Fulfillment and Notification APIs). ``webhook_secret``, a common key, is not used:
eBay signs notifications with its own ECDSA keys (``adapters.ebay.signature``).
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

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
    trading_listings: dict[str, str | tuple[str, str]] | None = None
    """Listings not made through the Inventory API, pushed with Trading ``ReviseInventoryStatus``:
    SKU -> ItemID, or SKU -> ``[ItemID, eBay's SKU]`` for a variation or a SKU-tracked listing
    (``adapters.ebay.trading.legacy_listings``)."""
    trading_url: str | None = None
    """The Trading API root (``https://api.ebay.com``; ``/ws/api.dll`` is appended): ``base_url`` if unset."""
    trading_site_id: int | None = Field(None, ge=0)
    """``X-EBAY-API-SITEID`` of the listings' site (0, eBay US)."""
    trading_compatibility_level: int | None = Field(None, ge=1)
    """``X-EBAY-API-COMPATIBILITY-LEVEL`` (``adapters.ebay.trading.COMPATIBILITY_LEVEL``)."""
    trading_daily_calls: int | None = Field(None, ge=1)
    """The app's Trading API calls a day (5,000 before eBay's Application Growth Check), spent as
    a budget of its own beside the Inventory API's."""

    @field_validator("trading_listings")
    @classmethod
    def _item_ids(cls, value: dict[str, str | tuple[str, str]] | None) -> object:
        for sku, listing in (value or {}).items():
            item_id = listing if isinstance(listing, str) else listing[0]
            if not item_id.isdigit():
                raise ValueError(f"{sku}: an ItemID is digits, not {item_id!r}")
        return value


register(
    "ebay",
    EbayKeys,
    secrets=("client_id", "client_secret", "refresh_token", "verification_token"),
)
