"""``skusync stop`` removes every detached actor of a deployment, also those its config no longer names."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import ray
import redis

from actors.cli import build_parser, main
from actors.deployment import Deployment, Records, named_actors
from actors.names import NAMESPACE, supervisor_name
from actors.runtime import ensure_channels, ensure_shards, ensure_supervisor
from engine.config import Config
from tests.conftest import REDIS_URL, delete_prefix

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
NOWHERE = "http://127.0.0.1:9"
"""No store listens here: the channel actors start (their catalog import keeps failing) and idle."""


def config(prefix: str, shards: int, channels: list[str]) -> Config:
    woo = [
        {"id": c, "kind": "woocommerce", "base_url": NOWHERE, "consumer_key": "ck", "consumer_secret": "cs"}
        for c in channels
    ]
    return Config.model_validate(
        {
            "store": {"key_prefix": prefix, "redis_url": REDIS_URL},
            "engine": {"shards": shards},
            "channels": woo,
        }
    )


def test_stop_removes_every_actor_of_the_deployment_and_only_those(
    ray_cluster: None,
    prefix: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Started with three shards and channels a and b; the file ``stop`` reads says two shards and
    only channel a: shard 2 and channel b go too (found by name pattern and by record)."""
    running = config(prefix, 3, ["a", "b"])
    ensure_channels(running, REDIS_URL)
    ensure_shards(running, REDIS_URL, fan_out=True)
    ensure_supervisor(running, REDIS_URL)
    neighbour = config(f"{prefix}n", 1, [])  # another deployment on the same cluster
    ensure_shards(neighbour, REDIS_URL)
    try:
        ours = named_actors(f"{prefix}-.*")
        assert len(ours) == 3 + 2 + 1
        path = tmp_path / "skusync.toml"
        path.write_text(
            f'[store]\nkey_prefix = "{prefix}"\nredis_url = "{REDIS_URL}"\n[engine]\nshards = 2\n'
            f'[[channels]]\nid = "a"\nkind = "woocommerce"\nbase_url = "{NOWHERE}"\n'
            'consumer_key = "ck"\nconsumer_secret = "cs"\n'
        )
        capsys.readouterr()
        assert main(["stop", "--config", str(path)]) == 0
        answer = orjson.loads(capsys.readouterr().out)
        assert sorted(answer["stopped"]) == ours and answer["stopped"][0] == supervisor_name(prefix)
        assert named_actors(f"{prefix}-.*") == []
        assert not redis_client.exists(Records(REDIS_URL, prefix).key)
        assert ray.get(ray.get_actor(f"{prefix}n-shard-0", namespace=NAMESPACE).ping.remote())  # untouched
        assert main(["stop", "--config", str(path)]) == 0  # nothing left: stopping again is a no-op
        assert orjson.loads(capsys.readouterr().out)["stopped"] == []
    finally:
        with Deployment(f"{prefix}n", REDIS_URL) as other:
            other.stop_all([], [])
        delete_prefix(redis_client, f"{prefix}n")


def test_stop_is_documented_in_the_command_line_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert "stop" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["stop", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "supervisor first" in text and "Stop every `skusync serve`" in text
