"""The ``skusync`` command line: argument parsing and dispatch; each command's work lives elsewhere."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from engine.config import Config, ConfigError, load_config

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line and exits 2, as INTERFACE.md requires."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"skusync: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="skusync", description="Real-time master stock and marketplace sync.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="run a flash sale against this machine's shards and report")
    demo.add_argument("--seconds", type=float, default=10.0)
    demo.add_argument("--json", type=Path, default=None, help="write the report here")
    demo.add_argument("--config", type=Path, default=None)
    demo.add_argument("--redis", default=None, help="Redis URL (default: embedded store)")
    demo.add_argument("--ray-address", default=None)
    demo.add_argument("--rate", type=float, default=1500.0, help="orders offered per second")
    return p


def resolve(args: argparse.Namespace) -> Config:
    """Configuration from file and environment, with command-line flags on top."""
    config = load_config(args.config)
    if getattr(args, "redis", None):
        config.store.redis_url = args.redis
    return config


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from actors.demo import DemoSettings, run_flash_sale
    from actors.runtime import ensure_shards, kill_shards, start_ray
    from actors.shard_client import ShardClient
    from engine.routing import ShardMap
    from engine.store.embedded import EmbeddedStore

    if args.seconds <= 0:
        raise ConfigError("--seconds", "must be positive")
    config = resolve(args)
    embedded = None
    if not config.store.redis_url:
        embedded = EmbeddedStore().start()
        config.store.redis_url = embedded.url
        config.store.key_prefix = f"demo{os.getpid()}"
    console = Console(stderr=True)
    console.print(f"starting Ray and {config.engine.shards} shard actors...")
    start_ray(args.ray_address)
    try:
        handles = ensure_shards(config, config.store.redis_url)
        client = ShardClient(handles, ShardMap(config.engine.shards, config.engine.vshards))
        report = run_flash_sale(client, DemoSettings(seconds=args.seconds, orders_per_s=args.rate), console)
    finally:
        if embedded is not None:
            kill_shards(config)
    out = report.as_dict()
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    if args.json:
        args.json.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    return EXIT_OK if report.conserved else EXIT_RUNTIME


COMMANDS = {"demo": cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"skusync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
