"""Keys of ``kind = "flipkart"`` channels, typed; registered with the engine's config on import.

Flipkart's own names for its credentials (the Seller API's "Application ID" and "Application
Secret"), ``base_url`` (a common key: the API root, ``https://api.flipkart.net``) and ``token_url``
for its OAuth endpoint, so tests point every URL at the simulator. ``webhook_secret``, a common key,
is not used: Flipkart signs notifications with the application secret (``adapters.flipkart.signature``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from engine.channel_keys import ChannelKeys, register


class FlipkartKeys(ChannelKeys):
    """Keys of ``kind = "flipkart"`` channels (``adapters.flipkart``)."""

    token_url: str | None = None
    """OAuth token endpoint (``https://api.flipkart.net/oauth-service/oauth/token``)."""
    app_id: str | None = Field(None, min_length=1)
    app_secret: SecretStr | None = None
    """The seller's application: client-credentials tokens for the API, and the FKLOGIN signature
    of every notification (``X_Authorization`` names ``app_id``; the digest includes the secret)."""
    endpoint_url: str | None = Field(None, min_length=1)
    """This channel's notification receiver URL exactly as registered with Flipkart (signed)."""
    signature_encoding: Literal["hex", "base64"] | None = None
    """How the SHA-1 digest is written inside ``X_Authorization`` (hex; unverified, see
    ``adapters.flipkart.signature``)."""
    date_tolerance_s: float | None = Field(None, gt=0)
    """How far ``X_Date`` may be from our clock (300 s; Flipkart states no window)."""
    location_id: str | None = Field(None, min_length=1)
    """The seller location whose inventory is pushed and read (else each listing's first location)."""
    max_batch: int | None = Field(None, ge=1, le=10)
    """SKUs per ``update/inventory`` call (10, the documented maximum)."""
    catalog_page_size: int | None = Field(None, ge=1, le=10)
    """SKUs per ``GET /listings/v3/{skuIds}`` in the catalog import (10, its maximum)."""
    reconcile_page_size: int | None = Field(None, ge=1, le=20)
    """Shipments per ``shipments/filter`` page (20) and SKUs per listings read (at most 10)."""


register("flipkart", FlipkartKeys, secrets=("app_id", "app_secret", "location_id"))
