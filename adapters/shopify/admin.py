"""The Shopify Admin API's base URL for a channel and the headers that authenticate to it."""

from __future__ import annotations

from engine.config import ChannelConfig


def admin_api(channel: ChannelConfig, default_version: str) -> tuple[str, dict[str, str]]:
    """``(base URL up to /admin/api/{version}, JSON headers with the access token)`` for ``channel``.

    The version is the channel's ``api_version`` extra, else (absent or None) ``default_version``.
    The headers carry the channel's secret: never log them.
    """
    version = getattr(channel, "api_version", None) or default_version
    headers = {
        "X-Shopify-Access-Token": channel.access_token.get_secret_value(),
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    return f"{channel.base_url.rstrip('/')}/admin/api/{version}", headers
