"""Keys of ``kind = "tiktok"`` channels, typed; registered with the engine's config on import.

The names are TikTok Shop's own (INTERFACE.md: "TikTok ``app_key``"): ``app_key`` and
``app_secret`` sign every Open API request and every webhook; ``base_url`` (a common key) is the
Open API root (``https://open-api.tiktokglobalshop.com``), ``token_url`` the token refresh endpoint
(``https://auth.tiktok-shops.com/api/v2/token/refresh``). ``webhook_secret`` is not used: TikTok
signs webhooks with the app secret. ``access_token`` (a common key) is used as is when no
``refresh_token`` is set.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from engine.channel_keys import ChannelKeys, register


class TikTokKeys(ChannelKeys):
    """Keys of ``kind = "tiktok"`` channels (``adapters.tiktok``)."""

    app_key: str | None = Field(None, min_length=1)
    app_secret: SecretStr | None = None
    """The app's key and secret (Partner Center): request signatures and webhook signatures."""
    token_url: str | None = None
    """TikTok Shop's token refresh endpoint (``https://auth.tiktok-shops.com/api/v2/token/refresh``)."""
    refresh_token: SecretStr | None = None
    """The shop's refresh token; access tokens are fetched from it (else ``access_token`` is used)."""
    shop_cipher: str | None = Field(None, min_length=1)
    """The shop's cipher (Get Authorized Shops), sent with every shop-scoped call."""
    shop_id: str | None = Field(None, min_length=1)
    """When set, a webhook naming another ``shop_id`` is refused (400)."""
    warehouse_id: str | None = Field(None, min_length=1)
    """The warehouse pushed to (else each SKU's first warehouse, from the catalog import)."""
    max_batch: int | None = Field(None, ge=1, le=100)
    """SKUs of one product per inventory update call (100: ``adapters.tiktok.outbound.per_call``)."""
    catalog_page_size: int | None = Field(None, ge=1, le=100)
    reconcile_page_size: int | None = Field(None, ge=1, le=100)
    """Products or orders per page when reading (50; the search methods' ``page_size`` is 1..100)."""


register("tiktok", TikTokKeys, secrets=("app_key", "app_secret", "refresh_token"))
