"""``[history]``: keys validated with bounds, a misspelt key named, env overrides, a masked URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.archiver import masked
from actors.runtime import shard_specs
from engine.config import ConfigError, audit_cap, load_config
from engine.history.pages import BadCursor, decode_cursor, encode_cursor

URL = "postgresql://skusync:s3cr3t-pw@db.internal:5432/skusync"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "skusync.toml"
    path.write_text(text)
    return path


def test_history_is_off_by_default_and_takes_its_keys(tmp_path: Path) -> None:
    assert load_config(env={}).history.postgres_url is None
    config = load_config(
        write(tmp_path, f'[history]\npostgres_url = "{URL}"\nbatch = 100\nkeep_in_redis_s = 0\n'), env={}
    )
    assert config.history.url() == URL and config.history.batch == 100
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in str(config.model_dump())


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("batch = 0", "history.batch"),
        ("batch = 1000000", "history.batch"),
        ("interval_s = 0", "history.interval_s"),
        ("keep_in_redis_s = -1", "history.keep_in_redis_s"),
        ("max_lag_s = 0", "history.max_lag_s"),
        ('max_lag_s = "soon"', "history.max_lag_s"),
        ("postgress_url = 'x'", "history.postgress_url"),
    ],
)
def test_a_bad_history_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, f"[history]\n{text}\n"), env={})
    assert err.value.key == key


def test_env_overrides_history_keys() -> None:
    env = {"SKUSYNC_HISTORY_POSTGRES_URL": URL, "SKUSYNC_HISTORY_MAX_LAG_S": "5.5"}
    history = load_config(env=env).history
    assert history.url() == URL and history.max_lag_s == 5.5
    with pytest.raises(ConfigError) as err:
        load_config(env={"SKUSYNC_HISTORY_BATCH": "0"})
    assert err.value.key == "history.batch" and "s3cr3t" not in str(err.value)


def test_errors_never_show_the_url_or_its_password() -> None:
    shown = masked(f'connection to "{URL}" failed; password s3cr3t-pw refused', URL)
    assert "s3cr3t" not in shown and URL not in shown


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    assert decode_cursor(encode_cursor((1_700_000_000_123, 7, -1))) == (1_700_000_000_123, 7, -1)
    for bad in ("", "abc", encode_cursor((1, 2, 3))[:-2] + "!!"):
        with pytest.raises(BadCursor):
            decode_cursor(bad)


def test_with_history_the_stream_cap_is_the_archivers_backlog_not_the_history(tmp_path: Path) -> None:
    """At ``store.audit_maxlen`` a flash sale on one hot SKU trimmed entries the archiver had not
    read yet (``benchmarks/capacity.py``): with PostgreSQL the cap is ``history.max_backlog``."""
    plain = load_config(write(tmp_path, "[store]\naudit_maxlen = 5000\n"), env={})
    assert audit_cap(plain) == 5000
    archived = load_config(
        write(tmp_path, f'[store]\naudit_maxlen = 5000\n[history]\npostgres_url = "{URL}"\n'), env={}
    )
    assert audit_cap(archived) == archived.history.max_backlog == 2_000_000
    assert all(audit_cap(archived) in spec.args for spec in shard_specs(archived, "redis://127.0.0.1:1"))
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, f'[history]\npostgres_url = "{URL}"\nmax_backlog = 10\n'), env={})
    assert "history.max_backlog" in str(err.value)
