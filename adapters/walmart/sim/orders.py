"""The simulated seller's Walmart orders: their events (``PO_CREATED``, ``ORDER_UPDATES``) as
Walmart posts them, signed as the seller's subscription says, and their Orders API shape.

Event bodies follow developer.walmart.com's PO_CREATED event (MARKETPLACES.md, Walmart): line
quantities as ``{"unitOfMeasure": "EACH", "measurementValue": "<n>"}``. A cancelled line carries
``orderLineStatus: "Cancelled"`` in ``ORDER_UPDATES`` (the adapter's reading, unverified:
``events.line_cancelled``). Orders API lines: ``orderLineQuantity {unitOfMeasure, amount}``, string
amounts, ``statusDate`` in epoch ms, ``orderLineStatuses`` with a ``Cancelled`` status quantity.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from adapters.walmart import auth


def parse_iso(text: str) -> float:
    # an unencoded "+" in a query string arrives as a space
    return datetime.fromisoformat(text.replace(" ", "+").replace("Z", "+00:00")).timestamp()


def iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Line:
    number: int
    sku: str
    quantity: int
    cancelled: bool = False
    changed: float = 0.0


@dataclass
class WalmartOrder:
    po: str
    lines: list[Line]
    created: float
    updated: float
    events: list[str] = field(default_factory=list)

    def event(self, kind: str, sub: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "purchaseOrderId": self.po,
            "customerOrderId": f"C{self.po}",
            "orderDate": iso_ms(self.created),
            "orderLines": [
                {
                    "lineNumber": str(line.number),
                    "sku": line.sku,
                    "quantity": {"unitOfMeasure": "EACH", "measurementValue": str(line.quantity)},
                    **({"orderLineStatus": "Cancelled"} if line.cancelled else {}),
                }
                for line in self.lines
            ],
        }
        if sub is not None:
            payload = {"subEventType": sub, **payload}
        source = {"eventType": kind, "eventTime": iso_ms(self.updated), "eventId": str(uuid.uuid4())}
        self.events.append(source["eventId"])
        return {"source": source, "payload": payload}

    def listed(self) -> dict[str, Any]:
        """The order as ``GET /v3/orders`` lists it."""
        ms = round(self.created * 1000)
        return {
            "purchaseOrderId": self.po,
            "customerOrderId": f"C{self.po}",
            "orderDate": ms,
            "orderLines": {
                "orderLine": [
                    {
                        "lineNumber": str(line.number),
                        "item": {"productName": line.sku, "sku": line.sku},
                        "orderLineQuantity": {"unitOfMeasure": "EACH", "amount": str(line.quantity)},
                        "statusDate": round(line.changed * 1000),
                        "orderLineStatuses": {
                            "orderLineStatus": [
                                {
                                    "status": "Cancelled" if line.cancelled else "Created",
                                    "statusQuantity": {"unitOfMeasure": "EACH", "amount": str(line.quantity)},
                                }
                            ]
                        },
                    }
                    for line in self.lines
                ]
            },
        }


@dataclass(frozen=True)
class Subscription:
    """How the seller's event subscription authenticates (createSubscription ``authDetails``)."""

    method: str = "hmac"
    header: str = "Authorization"
    secret: str = "walmart-client-secret"
    username: str = "walmart-events"
    encoding: str = "base64"

    def value(self, body: bytes) -> str:
        if self.method == "basic":
            return "Basic " + base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()
        if self.method == "bearer":
            return f"Bearer {self.secret}"
        return auth.digest_text(self.secret, body, self.encoding)

    def signed(self, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = orjson.dumps(event)
        return body, {"Content-Type": "application/json", self.header: self.value(body)}
