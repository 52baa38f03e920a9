"""Fingerprints of actor settings: which setting reaches which actor, stable, secrets only hashed."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from pydantic import SecretStr

from actors.runtime import channel_specs, shard_specs, supervisor_spec
from engine.config import Config
from engine.settings_fingerprint import fingerprint

URL = "redis://:hunter2@127.0.0.1:6379/0"


def config(**changes: Any) -> Config:
    channel = {
        "id": "woo",
        "kind": "woocommerce",
        "base_url": "https://shop.example",
        "consumer_key": "ck_1",
        "consumer_secret": changes.get("secret", "cs_1"),
        "rate_limit": {"per_second": changes.get("rate", 5.0), "burst": 5},
    }
    other = {"id": "shop", "kind": "shopify", "base_url": "https://s.example", "access_token": "shpat_1"}
    return Config.model_validate(
        {
            "store": {"key_prefix": "fp"},
            "gateway": {
                "admin_token": changes.get("admin_token", "t0k3n"),
                "port": changes.get("port", 8000),
            },
            "engine": {"shards": changes.get("shards", 2), "idempotency_ttl_hours": changes.get("ttl_h", 72)},
            "channels": [channel, other],
        }
    )


def fingerprints(cfg: Config, url: str = URL) -> dict[str, str]:
    specs = [
        *shard_specs(cfg, url, fan_out=True),
        *channel_specs(cfg, url).values(),
        supervisor_spec(cfg, url),
    ]
    return {s.name: s.fingerprint for s in specs}


def changed(cfg: Config, url: str = URL) -> set[str]:
    base = fingerprints(config())
    return {n for n, f in fingerprints(cfg, url).items() if base.get(n) != f}


def test_same_settings_same_fingerprint_whatever_the_mapping_order() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1, "b": [1, 2]}) != fingerprint({"a": 1, "b": [2, 1]})
    assert fingerprints(config()) == fingerprints(config())


def test_a_secret_enters_by_value_and_never_shows() -> None:
    one, two = fingerprint(("x", SecretStr("s3cret-one"))), fingerprint(("x", SecretStr("s3cret-two")))
    assert one != two  # pydantic's JSON dump masks both as "**********": that would not tell them apart
    assert len(one) == 32 and int(one, 16) >= 0
    assert "s3cret" not in one and "hunter2" not in str(fingerprints(config()))


def test_the_fingerprint_is_the_same_in_another_process() -> None:
    code = (
        "from engine.settings_fingerprint import fingerprint; print(fingerprint({'b': [1, 'x'], 'a': 2.5}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == fingerprint({"a": 2.5, "b": [1, "x"]})


def test_each_setting_reaches_the_actors_that_were_created_with_it() -> None:
    shards, sup = {"fp-shard-0", "fp-shard-1"}, "fp-supervisor"
    assert changed(config(secret="cs_2")) == {"fp-channel-woo", sup}
    assert changed(config(rate=8.0)) == {"fp-channel-woo", sup}
    assert changed(config(ttl_h=24)) == {*shards, sup}
    assert changed(config(shards=3)) == {*shards, "fp-shard-2", sup}
    assert changed(config(), "redis://127.0.0.1:6380/0") == {
        *shards,
        "fp-channel-woo",
        "fp-channel-shop",
        sup,
    }
    # The gateway's settings reach no actor: a new admin token or port replaces nothing.
    assert changed(config(admin_token="other", port=9000)) == set()


def test_fan_out_is_a_shard_setting() -> None:
    cfg = config()
    with_fan_out = {s.name: s.fingerprint for s in shard_specs(cfg, URL, fan_out=True)}
    without = {s.name: s.fingerprint for s in shard_specs(cfg, URL, fan_out=False)}
    assert all(with_fan_out[n] != without[n] for n in without)
