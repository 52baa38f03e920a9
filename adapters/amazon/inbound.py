"""Amazon inbound: notifications forwarded by the seller's relay, verified by the relay convention.

``verify`` checks ``Skusync-Signature`` (``adapters.amazon.relay``) over the raw bytes before any
parsing; ``normalise`` maps ``ORDER_CHANGE`` and ``LISTINGS_ITEM_MFN_QUANTITY_CHANGE`` bodies
(``adapters.amazon.notifications``). The idempotency key is ``amazon:<NotificationId>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from adapters.amazon import notifications, relay
from adapters.base import Inbound
from engine.config import ChannelConfig


@dataclass
class AmazonInbound:
    """Stateless but for the clock the signature's freshness is judged by (injectable for tests)."""

    kind: str = "amazon"
    clock: Callable[[], float] = field(default=time.time, repr=False)
    tolerance_s: float = relay.TOLERANCE_S

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        secret = channel.webhook_secret.get_secret_value()
        relay.verify(secret, headers.get(relay.HEADER, "").strip(), body, self.clock(), self.tolerance_s)

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        seller = getattr(channel, "seller_id", None)
        return notifications.normalise(channel.id, seller if isinstance(seller, str) else None, body)
