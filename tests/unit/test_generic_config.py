"""A generic channel's configuration is checked at start-up: the worked example is accepted, and a
bad path, template, algorithm or paging choice stops ``serve`` with exit 2 naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from actors import cli
from adapters.generic.example import EXAMPLE_TOML
from engine.config import load_config

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


def serve(tmp_path: Path, toml: str) -> int:
    path = tmp_path / "skusync.toml"
    path.write_text(toml)
    return cli.main(["serve", "--config", str(path)])


def test_the_worked_example_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "skusync.toml"
    path.write_text(EXAMPLE_TOML)
    [channel] = load_config(path).channels
    assert channel.kind == "generic" and channel.push.batch_size == 50  # type: ignore[attr-defined]
    assert channel.inbound.statuses["voided"] == "cancelled_no_restock"  # type: ignore[attr-defined]
    assert serve(tmp_path, EXAMPLE_TOML) == 0 and SERVED


def replace(table: str, key: str, value: str) -> str:
    """The example with ``key = value`` in ``[channels.<table>]`` (replacing it, or added)."""
    lines, out, inside, done = EXAMPLE_TOML.splitlines(), [], False, False
    for line in lines:
        if line.startswith("["):
            if inside and not done:
                out.append(f"{key} = {value}")
                done = True
            inside = line.split("#")[0].strip() == f"[channels.{table}]"
        if inside and line.split("=")[0].strip() == key:
            line, done = f"{key} = {value}", True
        out.append(line)
    if inside and not done:
        out.append(f"{key} = {value}")
    text = "\n".join(out) + "\n"
    tomllib.loads(text)
    return text


def without(table: str) -> str:
    """The example without ``[channels.<table>]`` (and its sub-tables)."""
    out, skipping = [], False
    for line in EXAMPLE_TOML.splitlines():
        if line.startswith("["):
            skipping = line.split("#")[0].strip().startswith(f"[channels.{table}")
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        (replace("inbound", "order_id", '"$..id"'), "inbound.order_id: unsupported JSON path syntax"),
        (replace("inbound", "lines", '"$.items"'), "inbound.lines: must end with [*]"),
        (replace("inbound", "sku", '"$.skus[*]"'), "inbound.sku: must name one place"),
        (replace("inbound", "time_format", '"rfc822"'), "inbound.time_format: Input should be"),
        (replace("inbound", "ordr", '"$"'), "inbound.ordr: unknown key"),
        (replace("inbound.statuses", "lost", '"gone"'), "inbound.statuses.lost: Input should be"),
        (replace("signature", "algorithm", '"md5"'), "signature.algorithm: Input should be 'hmac-sha1'"),
        (replace("signature", "encoding", '"base32"'), "signature.encoding: Input should be"),
        (replace("signature", "signed", '"{body}{body}"'), "signature.signed: must hold {body} once"),
        (replace("signature", "signed", '"{body}"'), "signature: timestamp_header and a {timestamp}"),
        (replace("signature", "tolerance_s", "0"), "signature.tolerance_s: Input should be greater than 0"),
        (replace("signature", "header", '"X Sig"'), "signature.header: String should match pattern"),
        (replace("push", "batch_size", "0"), "push.batch_size: Input should be greater than or equal to 1"),
        (replace("push", "method", '"DELETE"'), "push.method: Input should be"),
        (replace("push", "item", '{ sku = "{sku}", n = "{qty}" }'), "push: unknown placeholder {qty}"),
        (replace("push", "url", '"/stock/{sku}"'), "push: {sku} and {id} outside item need batch_size 1"),
        (replace("push", "body", '{ warehouse = "main" }'), 'push: body must hold "{items}"'),
        (replace("push", "errors", '"$.errors"'), "push.errors: must end with [*]"),
        (
            replace("catalog", "page_size", "0"),
            "catalog.page_size: Input should be greater than or equal to 1",
        ),
        (replace("catalog", "cursor_param", '"after"'), "catalog: cursor_param and next_cursor go together"),
        (replace("orders", "page_param", '"page"'), "orders: page by number (page_param) or by cursor"),
        (replace("orders", "since_format", '"epoch"'), "orders.since_format: Input should be"),
        (without("signature"), "signature: required with inbound"),
        (without("catalog"), "catalog: required with push"),
    ],
)
def test_a_bad_key_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, named: str
) -> None:
    assert serve(tmp_path, toml) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert named in err, err
    assert not SERVED
