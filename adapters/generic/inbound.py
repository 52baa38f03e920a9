"""Generic inbound: the configured HMAC over the raw body, then the order found by configured paths.

``verify`` checks ``signature`` (``adapters.generic.signature``) before anything parses the body.
``normalise`` decodes the JSON, finds the order (``inbound.order``) and reads it as a versioned
document (``adapters.generic.orders``); the idempotency key is ``generic:<event id>`` from
``inbound.event_id``, else ``generic:<order id>:<version>:<status class>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from adapters.base import AdapterError, Inbound, SignatureError
from adapters.generic import orders, signature
from adapters.generic.jsonpath import MISSING, first
from adapters.generic.keys import InboundSpec, SignatureSpec
from adapters.order_payload import decode_object
from engine.config import ChannelConfig


def inbound_spec(channel: ChannelConfig) -> InboundSpec | None:
    spec = getattr(channel, "inbound", None)
    return InboundSpec.model_validate(spec) if isinstance(spec, dict) else spec


def signature_spec(channel: ChannelConfig) -> SignatureSpec | None:
    spec = getattr(channel, "signature", None)
    return SignatureSpec.model_validate(spec) if isinstance(spec, dict) else spec


@dataclass
class GenericInbound:
    kind: str = "generic"
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        spec = signature_spec(channel)
        if spec is None or inbound_spec(channel) is None:
            raise SignatureError("this generic channel takes no webhooks (no inbound and signature tables)")
        signature.verify(spec, channel.webhook_secret.get_secret_value(), headers, body, self.clock())

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        spec = inbound_spec(channel)
        if spec is None:
            raise AdapterError("no inbound table")
        payload = decode_object(body)
        order = first(payload, spec.order)
        if not isinstance(order, dict):
            raise AdapterError(f"{spec.order} (order) must be an object")
        event_id = None
        if spec.event_id is not None:
            found = first(payload, spec.event_id)
            if isinstance(found, bool) or not isinstance(found, str | int) or found == "" or found is MISSING:
                raise AdapterError(f"{spec.event_id} (event_id) must be a non-empty string or integer")
            event_id = str(found)
        read = orders.read_order(spec, order)
        events, note = orders.events(channel.id, read, orders.event_key(read, event_id))
        return Inbound(events=events, note=note)
