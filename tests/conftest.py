"""Shared fixtures: a key prefix per test on the real Redis, one local Ray cluster per session.

A missing Redis or Ray fails the run; nothing here skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from hypothesis import settings

import adapters  # noqa: F401  (every kind's configuration keys, as actors and the CLI have them)

# Hypothesis budgets. ``ci`` (the default) keeps hypothesis's example counts and lets a stateful test
# run up to 300 steps: the ledger model (tests/unit/test_ledger_model.py) then takes about 15 s.
# ``long`` (``pytest --hypothesis-profile long``) searches far longer, before a release.
settings.register_profile("ci", max_examples=100, stateful_step_count=300)
settings.register_profile("long", max_examples=5000, stateful_step_count=400)
settings.load_profile("ci")

REDIS_URL = os.environ.get("SKUSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        client.delete(key)


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # fail, never skip: CI must have Redis
        pytest.fail(f"the integration tests need Redis at {REDIS_URL}: {exc}")
    return client


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own, removed afterwards."""
    p = f"t{uuid.uuid4().hex[:10]}"
    yield p
    delete_prefix(redis_client, p)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    import ray

    from actors.runtime import start_ray

    start_ray(num_cpus=2)
    yield
    ray.shutdown()
