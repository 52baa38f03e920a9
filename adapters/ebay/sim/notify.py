"""eBay's side of notifications, simulated: the signing key, ``ORDER_CONFIRMATION`` bodies, signatures.

Bodies follow MARKETPLACES.md's captured shape (``metadata {topic, schemaVersion, deprecated}``,
``notification {notificationId, eventDate, publishDate, publishAttemptCount, data {user, order
{orderId, orderLineItems[{orderLineItemId, listingId, quantity}]}}}``), serialised compactly (as
``JSON.stringify`` does, so the raw bytes and the SDK's re-serialisation are the same string).
The key is ECDSA P-256 and signs with SHA-1, as the header's ``digest`` names it (the curve eBay
uses is not published; the SDK verifies whatever key ``getPublicKey`` serves).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.ebay.signature import HEADER, public_key_answer, sign


def iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Signer:
    """One eBay signing key and its ``kid``."""

    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or str(uuid.uuid4())
        self.private = ec.generate_private_key(ec.SECP256R1())

    def answer(self) -> dict[str, str]:
        """``getPublicKey``'s body for this key."""
        return public_key_answer(self.private)

    def headers(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", HEADER: sign(self.private, self.kid, body)}


def order_confirmation(
    order_id: str,
    lines: Iterable[tuple[str, str, int]],
    t: float,
    notification_id: str | None = None,
    attempt: int = 1,
) -> dict[str, Any]:
    """An ``ORDER_CONFIRMATION``; ``lines`` are ``(lineItemId, listingId, quantity)``."""
    return {
        "metadata": {"topic": "ORDER_CONFIRMATION", "schemaVersion": "1.0", "deprecated": False},
        "notification": {
            "notificationId": notification_id or str(uuid.uuid4()),
            "eventDate": iso_ms(t),
            "publishDate": iso_ms(t),
            "publishAttemptCount": attempt,
            "data": {
                "user": {"userId": "sim-seller-id", "username": "sim_seller"},
                "order": {
                    "orderId": order_id,
                    "orderLineItems": [
                        {"orderLineItemId": line, "listingId": listing, "quantity": q}
                        for line, listing, q in lines
                    ],
                },
            },
        },
    }


def signed(signer: Signer, notification: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(notification)
    return body, signer.headers(body)


async def validate_endpoint(url: str, verification_token: str, endpoint_url: str) -> bool:
    """eBay's endpoint validation: ``GET url?challenge_code=X``, then compare ``challengeResponse``
    with sha256_hex(X + verification token + endpoint URL) (eBay/event-notification-nodejs-sdk
    lib/validator.js ``generateChallengeResponse``)."""
    code = secrets.token_hex(16)
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(url, params={"challenge_code": code})
    expected = hashlib.sha256((code + verification_token + endpoint_url).encode()).hexdigest()
    return answer.status_code == 200 and answer.json().get("challengeResponse") == expected
