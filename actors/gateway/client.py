"""Thin admin client over HTTP for the command line (``skusync stock|audit|orders|dlq``)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson


class AdminError(RuntimeError):
    """The gateway refused the request or could not be reached; the message is one line."""


class AdminClient:
    """Calls the admin API of a running gateway with the bearer token."""

    def __init__(self, url: str, token: str, timeout_s: float = 10.0) -> None:
        self.http = httpx.Client(
            base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; the decoded JSON answer, or ``AdminError`` naming the status and reason."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach {self.http.base_url}: {exc}") from None
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if response.status_code >= 400:
            reason = body.get("error") if isinstance(body, dict) else response.reason_phrase
            extra = {k: v for k, v in body.items() if k != "error"} if isinstance(body, dict) else {}
            detail = f" {orjson.dumps(extra).decode()}" if extra else ""
            raise AdminError(f"HTTP {response.status_code}: {reason}{detail}")
        return body

    def stock_get(self, sku: str) -> Any:
        """``GET /v1/skus/{sku}``."""
        return self.call("GET", f"/v1/skus/{_segment(sku)}")

    def stock_set(self, sku: str, quantity: int) -> Any:
        """``PUT /v1/skus/{sku}/stock``."""
        return self.call("PUT", f"/v1/skus/{_segment(sku)}/stock", json={"quantity": quantity})

    def stock_adjust(self, sku: str, delta: int, reason: str) -> Any:
        """``POST /v1/skus/{sku}/adjust``."""
        return self.call("POST", f"/v1/skus/{_segment(sku)}/adjust", json={"delta": delta, "reason": reason})

    def audit(self, sku: str | None, limit: int) -> Any:
        """``GET /v1/audit``."""
        params: dict[str, Any] = {"limit": limit}
        if sku:
            params["sku"] = sku
        return self.call("GET", "/v1/audit", params=params)

    def orders(self, channel: str | None, status: str | None, limit: int) -> Any:
        """``GET /v1/orders``."""
        params: dict[str, Any] = {"limit": limit}
        if channel:
            params["channel"] = channel
        if status:
            params["status"] = status
        return self.call("GET", "/v1/orders", params=params)

    def dlq_list(self, channel: str | None, limit: int) -> Any:
        """``GET /v1/dlq``."""
        params: dict[str, Any] = {"limit": limit}
        if channel:
            params["channel"] = channel
        return self.call("GET", "/v1/dlq", params=params)

    def dlq_redrive(self, channel: str | None) -> Any:
        """``POST /v1/dlq/redrive``."""
        return self.call("POST", "/v1/dlq/redrive", params={"channel": channel} if channel else {})

    def close(self) -> None:
        self.http.close()


def _segment(value: str) -> str:
    """A path segment, percent-encoded (a SKU may hold spaces or ``#``)."""
    from urllib.parse import quote

    return quote(value, safe="")
