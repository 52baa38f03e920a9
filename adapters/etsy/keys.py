"""Keys of ``kind = "etsy"`` channels, typed; registered with the engine's config on import.

Names follow INTERFACE.md: Etsy's own names for credentials (``client_id`` is the app's keystring,
sent as ``x-api-key``; ``client_secret`` its shared secret; ``refresh_token`` the seller's grant),
``base_url`` the Open API root (``https://openapi.etsy.com``), ``token_url`` the OAuth endpoint
(``https://api.etsy.com/v3/public/oauth/token``), ``webhook_secret`` (common) the webhook signing
secret (``whsec_...``). Details MARKETPLACES.md marks unverified are keys here (see ``adapters.etsy``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from engine.channel_keys import ChannelKeys, register


class EtsyKeys(ChannelKeys):
    """Keys of ``kind = "etsy"`` channels (``adapters.etsy``)."""

    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    """With it, ``x-api-key`` is ``keystring:shared_secret`` (Etsy's newer form), else the keystring."""
    refresh_token: SecretStr | None = None
    shop_id: int | None = Field(None, ge=1)
    """The seller's shop: receipts and listings are read under it; a webhook for another shop is refused."""
    event_types: list[str] | None = None
    """Webhook events handled (``["order.paid"]``: the one Etsy documents; ``order.canceled`` and
    ``order.shipped`` are unverified names, add them if the account receives them)."""
    signature_scheme: Literal["standard-webhooks"] | None = None
    """How deliveries are signed (Etsy's page does not say; a third-party spec says Standard Webhooks)."""
    signature_secret_encoding: Literal["base64", "utf8"] | None = None
    """The ``whsec_`` secret's key bytes: base64-decoded (the Standard Webhooks spec) or the raw text."""
    signature_tolerance_s: float | None = Field(None, gt=0, le=3600)
    """How far ``webhook-timestamp`` may be from our clock (300, the spec's five minutes)."""
    cancel_restocks: bool | None = None
    """Whether a cancelled receipt's units return to the listing (unverified; True)."""
    max_batch: int | None = Field(None, ge=1, le=100)
    """Our SKUs of one listing changed by one ``updateListingInventory`` call (20)."""
    catalog_page_size: int | None = Field(None, ge=1, le=100)
    reconcile_page_size: int | None = Field(None, ge=1, le=100)
    """Listings or receipts per page (100, the ``limit`` maximum of both reads)."""
    poll_every_s: float | None = Field(None, gt=0)
    """No webhook subscription (Etsy grants them to commercial-access apps only): reconciliation,
    whose ``getShopReceipts(min_last_modified)`` backfill is the poll, runs this often; it sets
    ``reconcile_every_s`` when that is not set."""

    @model_validator(mode="after")
    def _poll(self) -> EtsyKeys:
        if self.poll_every_s is not None and self.reconcile_every_s is None:
            self.reconcile_every_s = self.poll_every_s
        return self


register("etsy", EtsyKeys, secrets=("client_id", "client_secret", "refresh_token"))
