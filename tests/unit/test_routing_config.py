"""Stable routing and configuration loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import ConfigError, load_config
from engine.routing import ShardMap, vshard_of


def test_routing_is_stable_across_processes() -> None:
    """Python's hash() is salted per process; our routing must not be."""
    code = "from engine.routing import vshard_of; print([vshard_of(f'SKU-{i}') for i in range(50)])"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed), "PATH": ""},
        ).stdout
        for seed in (1, 2)
    }
    assert len(outs) == 1
    assert outs.pop().strip() == str([vshard_of(f"SKU-{i}") for i in range(50)])


def test_known_value_pins_the_hash() -> None:
    assert vshard_of("SKU-00001") == vshard_of("SKU-00001", 1024)
    assert 0 <= vshard_of("x") < 1024


def test_shard_map_partitions_vshards() -> None:
    m = ShardMap(3, vshards=16)
    owned = [m.owned(s) for s in range(3)]
    assert sorted(v for o in owned for v in o) == list(range(16))
    assert all(m.shard_of_vshard(v) == s for s, o in enumerate(owned) for v in o)
    with pytest.raises(ValueError):
        ShardMap(0)


def test_config_file_and_env_override(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        "[engine]\nshards = 3\n[gateway]\nport = 9000\n"
        '[[channels]]\nid = "shop-us"\nkind = "shopify"\nwebhook_secret = "file"\nlocation_id = "gid://1"\n'
    )
    cfg = load_config(
        f,
        env={
            "SKUSYNC_GATEWAY_PORT": "9100",
            "SKUSYNC_CHANNEL_SHOP_US_WEBHOOK_SECRET": "env",
            "SKUSYNC_REDIS_URL": "redis://h:1/0",
        },
    )
    assert cfg.engine.shards == 3 and cfg.gateway.port == 9100
    assert cfg.store.redis_url == "redis://h:1/0"
    ch = cfg.channel("shop-us")
    assert ch is not None and ch.webhook_secret.get_secret_value() == "env"
    assert ch.model_extra == {"location_id": "gid://1"}
    assert "env" not in repr(cfg)  # secrets never print


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[engine]\nshards = 0\n", "engine.shards"),
        ("[engine]\nshardz = 2\n", "engine.shardz"),
        ("[gateway]\nport = 'x'\n", "gateway.port"),
        ('[[channels]]\nid = "a"\nkind = "nope"\n', "channels.a"),
        (
            '[[channels]]\nid = "a"\nkind = "shopify"\n[[channels]]\nid = "a"\nkind = "shopify"\n',
            "channels.a.id",
        ),
        ("not toml [", "--config"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f, env={})
    assert err.value.key == key


def test_cli_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[engine]\nshards = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "actors.cli", "demo", "--config", str(f)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "engine.shards" in proc.stderr
