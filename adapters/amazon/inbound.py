"""Amazon inbound: notifications forwarded by the seller's relay, verified by the relay convention.

``verify`` checks ``Skusync-Signature`` (``adapters.amazon.relay``) over the raw bytes before any
parsing; ``normalise`` maps ``ORDER_CHANGE`` and ``LISTINGS_ITEM_MFN_QUANTITY_CHANGE`` bodies
(``adapters.amazon.notifications``), reading the order through ``getOrder`` when an
``ORDER_CHANGE`` has no ``Summary`` (``adapters.amazon.order_fetch``). The idempotency key is
``amazon:<NotificationId>`` either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.amazon import notifications, order_fetch, relay
from adapters.base import Inbound
from engine.config import ChannelConfig


@dataclass
class AmazonInbound:
    """Stateless but for the clock the signature's freshness is judged by and the ``getOrder``
    fetcher (both injectable for tests)."""

    kind: str = "amazon"
    calls_out = True
    """An ``ORDER_CHANGE`` without ``Summary`` fetches its order: the gateway runs ``normalise`` on
    the channel's worker threads. One with ``Summary`` calls nothing."""
    clock: Callable[[], float] = field(default=time.time, repr=False)
    tolerance_s: float = relay.TOLERANCE_S
    fetcher: order_fetch.OrderFetcher = field(default_factory=order_fetch.OrderFetcher, repr=False)

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        secret = channel.webhook_secret.get_secret_value()
        relay.verify(secret, headers.get(relay.HEADER, "").strip(), body, self.clock(), self.tolerance_s)

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        seller = getattr(channel, "seller_id", None)
        def thin(key: str, order_id: str, note: dict[str, Any], envelope: dict[str, Any]) -> Inbound:
            return order_fetch.thin_change(channel, self.fetcher, key, order_id, note, envelope)

        return notifications.normalise(channel.id, seller if isinstance(seller, str) else None, body, thin)
