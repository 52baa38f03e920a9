"""Strict channel keys (issue 19, item 4): a misspelt or mistyped key stops ``serve`` with exit 2
naming it, before anything starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors import cli
from actors.channel_http import outbound_for
from engine.config import ConfigError, load_config

SERVED: list[Any] = []


@pytest.fixture(autouse=True)
def no_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` records its config instead of starting Ray and the gateway."""
    import actors.gateway.server as server

    def record(config: Any, address: str | None = None) -> int:
        SERVED.append(config)
        return 0

    SERVED.clear()
    monkeypatch.setattr(server, "serve", record)
    monkeypatch.delenv("SKUSYNC_ADMIN_TOKEN", raising=False)


def serve(tmp_path: Path, toml: str, *args: str) -> int:
    path = tmp_path / "skusync.toml"
    path.write_text(toml)
    return cli.main(["serve", "--config", str(path), *args])


SHOP = '[[channels]]\nid = "shop-us"\nkind = "shopify"\nlocation_id = 5\n'
WOO = '[[channels]]\nid = "woo-eu"\nkind = "woocommerce"\n'


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        (SHOP + "rate_limt = { per_second = 2, burst = 4 }\n", "rate_limt: unknown key"),
        (WOO + "defualt_buffer = 2\n", "defualt_buffer: unknown key"),
        (WOO + 'max_batch = "lots"\n', "max_batch: Input should be a valid integer"),
        (WOO + "max_batch = 500\n", "max_batch: Input should be less than or equal to 100"),
        (SHOP + "max_in_flight = 0\n", "max_in_flight: Input should be greater than or equal to 1"),
        (SHOP + "rate_safety = 1.5\n", "rate_safety: Input should be less than or equal to 1"),
        (SHOP + 'edit_removals_restock = "perhaps"\n', "edit_removals_restock: Input should be a valid bool"),
        (SHOP + "buffer_rules = { default = { fixd = 1 } }\n", "buffer_rules: unknown buffer rule keys"),
        ('[gateway]\nprot = 9000\n', "gateway.prot: unknown key"),
    ],
)  # fmt: skip
def test_a_misspelt_or_mistyped_key_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, named: str
) -> None:
    assert serve(tmp_path, toml) == cli.EXIT_USAGE
    assert named in capsys.readouterr().err
    assert SERVED == []


def test_a_channel_error_names_the_channel_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "skusync.toml"
    path.write_text(WOO + "retry_cap_s = -1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "channels.woo-eu.retry_cap_s"


def test_an_environment_override_of_an_unknown_channel_key_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "skusync.toml"
    path.write_text(SHOP)
    with pytest.raises(ConfigError, match="max_inflight: unknown key"):
        load_config(path, env={"SKUSYNC_CHANNEL_SHOP_US_MAX_INFLIGHT": "8"})


def test_typed_keys_reach_their_readers_with_their_types(tmp_path: Path) -> None:
    path = tmp_path / "skusync.toml"
    path.write_text(WOO + 'max_batch = 40\nconsumer_key = "ck"\nconsumer_secret = "cs"\nmax_in_flight = 2\n')
    env = {"SKUSYNC_CHANNEL_WOO_EU_CONSUMER_SECRET": "12345", "SKUSYNC_CHANNEL_WOO_EU_TIMEOUT_S": "3"}
    [channel] = load_config(path, env=env).channels
    assert outbound_for(channel).max_batch == 40
    assert channel.model_extra is not None
    assert channel.model_extra["max_in_flight"] == 2 and channel.model_extra["timeout_s"] == 3.0
    assert channel.model_extra["consumer_secret"] == "12345"  # digits from the environment stay a string
    assert "retry_cap_s" not in channel.model_extra  # left out: its reader's default applies


def test_a_kind_without_an_adapter_keeps_its_own_keys_and_types_the_common_ones(tmp_path: Path) -> None:
    path = tmp_path / "skusync.toml"
    path.write_text('[[channels]]\nid = "tt"\nkind = "tiktok"\napp_key = "k"\n')
    assert load_config(path).channels[0].model_extra == {"app_key": "k"}
    path.write_text('[[channels]]\nid = "tt"\nkind = "tiktok"\nmax_in_flight = "x"\n')
    with pytest.raises(ConfigError, match="max_in_flight"):
        load_config(path)


@pytest.mark.parametrize(
    ("value", "ok"), [("loopback", True), ("node", True), ("10.0.0.7", True), ("lan", False)]
)
def test_engine_link_host_takes_loopback_node_or_an_address(value: str, ok: bool) -> None:
    env = {"SKUSYNC_ENGINE_LINK_HOST": value}
    if ok:
        assert load_config(env=env).engine.link_host == value
    else:
        with pytest.raises(ConfigError, match=r"engine\.link_host"):
            load_config(env=env)
