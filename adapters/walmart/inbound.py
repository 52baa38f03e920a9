"""Walmart inbound: ``verify`` (``adapters.walmart.auth``) over the raw bytes, then ``normalise``
(``adapters.walmart.events``). The idempotency key is ``walmart:<source.eventId>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from adapters.base import Inbound
from adapters.walmart import auth, events
from engine.config import ChannelConfig


@dataclass
class WalmartInbound:
    kind: str = "walmart"

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        auth.verify(channel, headers, body)

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        return events.normalise(channel.id, body)
