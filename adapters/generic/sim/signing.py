"""How the simulated marketplace signs a delivery: the configured scheme (``adapters.generic.signature``)."""

from __future__ import annotations

from adapters.generic.keys import SignatureSpec
from adapters.generic.signature import header_value


def sign(spec: SignatureSpec, secret: str, body: bytes, now: int) -> dict[str, str]:
    """The headers sent with ``body`` signed at unix time ``now``."""
    headers = {"Content-Type": "application/json"}
    timestamp = str(now) if spec.timestamp_header else ""
    if spec.timestamp_header:
        headers[spec.timestamp_header] = timestamp
    headers[spec.header] = header_value(spec, secret, body, timestamp)
    return headers
