"""The default admin token (issue 19, item 4): ``serve`` refuses it beyond loopback with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config_strict import SERVED, no_gateway, serve

from actors import cli

__all__ = ["no_gateway"]  # the fixture that keeps ``serve`` from starting anything (autouse)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "shop.example.com"])
def test_serve_beyond_loopback_with_the_default_admin_token_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    assert serve(tmp_path, "", "--host", host) == cli.EXIT_USAGE
    assert "gateway.admin_token" in capsys.readouterr().err
    assert SERVED == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_serve_on_loopback_with_the_default_token_starts(tmp_path: Path, host: str) -> None:
    assert serve(tmp_path, "", "--host", host) == cli.EXIT_OK
    assert [c.gateway.host for c in SERVED] == [host]


def test_serve_beyond_loopback_with_a_token_of_its_own_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKUSYNC_ADMIN_TOKEN", "a-long-token-of-this-deployment")
    assert serve(tmp_path, "", "--host", "0.0.0.0") == cli.EXIT_OK
    assert len(SERVED) == 1
