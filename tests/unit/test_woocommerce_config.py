"""The woocommerce kind's typed configuration keys (``adapters.woocommerce.keys``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.woocommerce.outbound import credentials
from engine.config import ChannelConfig, ConfigError, load_config


def test_query_string_auth_defaults_off_and_sends_basic() -> None:
    channel = ChannelConfig(id="w", kind="woocommerce", consumer_key="ck", consumer_secret="cs")
    assert channel.query_string_auth is False  # type: ignore[attr-defined]
    headers, params = credentials(channel)
    assert headers["Authorization"].startswith("Basic ") and params == {}


def test_query_string_auth_moves_the_pair_into_the_query() -> None:
    channel = ChannelConfig(
        id="w", kind="woocommerce", consumer_key="ck", consumer_secret="cs", query_string_auth=True
    )
    headers, params = credentials(channel)
    assert "Authorization" not in headers and params == {"consumer_key": "ck", "consumer_secret": "cs"}


def test_query_string_auth_is_typed_and_overridable(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[channels]]\nid = "woo-1"\nkind = "woocommerce"\nquery_string_auth = "maybe"\n')
    with pytest.raises(
        ConfigError, match=r"channels\.woo-1: .*query_string_auth: Input should be a valid boolean"
    ):
        load_config(path)
    env = {"SKUSYNC_CHANNEL_WOO_1_QUERY_STRING_AUTH": "true"}
    assert load_config(path, env=env).channels[0].query_string_auth is True  # type: ignore[attr-defined]
    assert "query_string_auth" not in (ChannelConfig(id="s", kind="shopify").model_extra or {})
