"""Flipkart inbound: FKLOGIN-signed order notifications (``adapters.flipkart.signature``), then
``adapters.flipkart.notifications`` (which reads the shipment a notification names:
``adapters.flipkart.fetch``). The signature covers the date, our registered URL, the method
and the app secret, not the body; it is checked before anything parses the body, and since the
body is unsigned, what a sale takes comes from the shipment read, never from the body."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from adapters.base import Inbound
from adapters.flipkart import fetch, notifications, signature
from adapters.oauth_tokens import secret
from engine.config import ChannelConfig


@dataclass
class FlipkartInbound:
    """Stateless but for the clock ``X_Date`` is judged by (injectable for tests)."""

    kind: str = "flipkart"
    calls_out = True  # every order notification reads its shipment: the gateway runs this on a worker thread
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        signature.verify(
            app_id=str(getattr(channel, "app_id", None) or ""),
            secret=secret(getattr(channel, "app_secret", None)),
            url=str(getattr(channel, "endpoint_url", None) or ""),
            method="POST",  # the gateway takes notifications by POST only
            date=headers.get(signature.DATE, "").strip(),
            authorization=headers.get(signature.AUTH, "").strip(),
            now=self.clock(),
            encoding=str(getattr(channel, "signature_encoding", None) or "hex"),
            tolerance_s=float(getattr(channel, "date_tolerance_s", None) or signature.TOLERANCE_S),
        )

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        return notifications.normalise(channel.id, body, lambda sid: fetch.shipment_sync(channel, sid))
