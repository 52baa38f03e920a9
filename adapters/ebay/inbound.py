"""eBay inbound: Notification API deliveries verified by ECDSA, and the endpoint-validation challenge.

``verify`` decodes ``X-EBAY-SIGNATURE`` and checks it over the raw bytes (or the SDK's re-serialised
form: ``adapters.ebay.signature.signed_messages``) before anything parses the body for events, with
the key ``kid`` names (``adapters.ebay.public_keys``: cached, fetched on a miss, bounded).
``normalise`` maps ``ORDER_CONFIRMATION`` (``adapters.ebay.notifications``). ``challenge`` answers
``GET /webhooks/{id}?challenge_code=X`` with ``{"challengeResponse": sha256_hex(X +
verification_token + endpoint_url)}`` (eBay/event-notification-nodejs-sdk lib/validator.js
``generateChallengeResponse``: the three strings hashed in that order, hex digest).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.base import Inbound, SignatureError
from adapters.ebay import notifications, orders, public_keys, signature
from adapters.ebay.oauth import secret
from engine.config import ChannelConfig


def challenge_response(code: str, verification_token: str, endpoint_url: str) -> str:
    return hashlib.sha256((code + verification_token + endpoint_url).encode()).hexdigest()


@dataclass
class EbayInbound:
    kind: str = "ebay"
    calls_out = True
    """``verify`` may fetch a signing key and ``normalise`` an order: the gateway runs them off its loop."""

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        header = signature.parse_header(headers.get(signature.HEADER, "").strip())
        key = public_keys.keys_for(channel).get(header.kid)
        signature.verify(key, header, body)

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        def fetch(order_id: str) -> dict[str, Any]:
            return orders.fetch_sync(channel, order_id)

        return notifications.normalise(channel.id, body, notifications.map_for(channel.id), fetch)

    def challenge(self, channel: ChannelConfig, query: Mapping[str, str]) -> dict[str, Any] | None:
        """The answer to eBay's endpoint validation, or None when this is not one (no code)."""
        code = query.get("challenge_code", "")
        if not code:
            return None
        token = secret(getattr(channel, "verification_token", None))
        endpoint = str(getattr(channel, "endpoint_url", None) or "")
        if not token or not endpoint:
            raise SignatureError("set verification_token and endpoint_url to answer eBay's challenge")
        return {"challengeResponse": challenge_response(code, token, endpoint)}
