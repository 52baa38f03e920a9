"""The ``skusync`` command line: argument parsing and dispatch; each command's work lives elsewhere."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from engine.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from actors.gateway.client import AdminClient

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line and exits 2, as INTERFACE.md requires."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"skusync: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="skusync", description="Real-time master stock and marketplace sync.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="a flash sale through the whole pipeline on this machine, reported")
    demo.add_argument("--seconds", type=float, default=10.0, help="how long shoppers buy")
    demo.add_argument("--json", type=Path, default=None, help="write the report here")
    demo.add_argument("--config", type=Path, default=None, help="only [store] redis_url is used")
    demo.add_argument("--redis", default=None, help="Redis URL (default: embedded store)")
    demo.add_argument("--ray-address", default=None)
    demo.add_argument("--rate", type=float, default=150.0, help="orders offered per second, all stores")
    demo.add_argument(
        "--channels",
        default=None,
        help="accounts per kind, e.g. shopify:2,woocommerce:1,amazon:1,ebay:1 (that is the default)",
    )
    serve = sub.add_parser("serve", help="serve the webhook gateway and admin API until SIGINT/SIGTERM")
    serve.add_argument("--config", type=Path, default=None)
    serve.add_argument("--redis", default=None, help="Redis URL (default: embedded store)")
    serve.add_argument("--ray-address", default=None, help="join this Ray cluster (default: start one)")
    serve.add_argument("--host", default=None, help="listen address (default: [gateway] host)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default: [gateway] port)")
    _add_stop_command(sub)
    _add_admin_commands(sub)
    return p


STOP_HELP = """\
Remove the deployment's detached actors from the Ray cluster: the supervisor first (it recreates
lost actors), then every shard (of any shard count), then the channel actors, and their settings
records. Stop every `skusync serve` of the deployment first: a running gateway recreates the
supervisor, and the supervisor the rest. Nothing decided is lost: stock, orders, audit trails and
the channels' pending updates are in Redis, and the next `serve` starts new actors on them.

A `serve` started after a configuration change replaces by itself the actors whose settings
changed (one at a time; every shard at once when engine.shards changed); `stop` is for taking a
deployment down, or for starting it afresh on a cluster."""


def _add_stop_command(sub: Any) -> None:
    stop = sub.add_parser(
        "stop",
        help="remove the deployment's actors (supervisor, shards, channel actors) from the Ray cluster",
        description=STOP_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stop.add_argument("--config", type=Path, default=None, help="the deployment's configuration")
    stop.add_argument("--redis", default=None, help="Redis URL (where the actors' records are)")
    stop.add_argument("--ray-address", default="auto", help="the cluster the actors run on (default: auto)")


def cmd_stop(args: argparse.Namespace) -> int:
    """``skusync stop``: the names of the actors removed, as JSON on stdout."""
    from actors.deployment import Deployment
    from actors.names import channel_name, shard_name, supervisor_name
    from actors.runtime import start_ray

    config = resolve(args)
    prefix = config.store.key_prefix
    try:
        start_ray(args.ray_address)
    except ConnectionError as exc:
        print(f"skusync: no Ray cluster at {args.ray_address}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    names = [supervisor_name(prefix), *(shard_name(prefix, i) for i in range(config.engine.shards))]
    channels = [channel_name(prefix, c.id) for c in config.channels]
    with Deployment(prefix, config.store.redis_url) as deployment:
        stopped = deployment.stop_all(names, channels)
    print(orjson.dumps({"key_prefix": prefix, "stopped": stopped}, option=orjson.OPT_INDENT_2).decode())
    return EXIT_OK


def _admin_parser(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    parser.add_argument("--url", default=None, help="gateway URL (env SKUSYNC_URL)")
    parser.add_argument("--token", default=None, help="admin token (env SKUSYNC_ADMIN_TOKEN)")
    return parser


def _add_admin_commands(sub: Any) -> None:
    """The thin admin clients: ``stock get|set|adjust``, ``audit``, ``orders``, ``dlq list|redrive``."""
    stock = sub.add_parser("stock", help="read or change a SKU's master stock")
    actions = stock.add_subparsers(dest="action", required=True, parser_class=_Parser)
    _admin_parser(actions, "get", "show a SKU").add_argument("sku")
    set_ = _admin_parser(actions, "set", "set the absolute quantity (a stock take)")
    set_.add_argument("sku")
    set_.add_argument("quantity", type=int)
    adjust = _admin_parser(actions, "adjust", "add or remove units (refused below zero)")
    adjust.add_argument("sku")
    adjust.add_argument("delta", type=int)
    adjust.add_argument("--reason", default="adjust")
    audit = _admin_parser(sub, "audit", "a SKU's decided changes, newest first")
    audit.add_argument("sku")
    audit.add_argument("--limit", type=int, default=50)
    orders = _admin_parser(sub, "orders", "every channel's orders, newest first")
    orders.add_argument("--channel", default=None)
    orders.add_argument("--status", choices=["accepted", "oversold", "cancelled", "reserved"], default=None)
    orders.add_argument("--limit", type=int, default=50)
    dlq = sub.add_parser("dlq", help="dead-lettered channel updates")
    dlq_actions = dlq.add_subparsers(dest="action", required=True, parser_class=_Parser)
    dlq_list = _admin_parser(dlq_actions, "list", "list dead letters, oldest first")
    dlq_list.add_argument("--channel", default=None)
    dlq_list.add_argument("--limit", type=int, default=100)
    redrive = _admin_parser(dlq_actions, "redrive", "queue dead-lettered updates again")
    redrive.add_argument("--channel", default=None)
    reconcile = _admin_parser(sub, "reconcile", "backfill missed orders, then correct drifted listings, now")
    reconcile.add_argument("--channel", default=None)
    reconcile.add_argument(
        "--wait", type=float, default=5.0, help="seconds the first request waits before following the run"
    )


def resolve(args: argparse.Namespace) -> Config:
    """Configuration from file and environment, with command-line flags on top."""
    config = load_config(args.config)
    if getattr(args, "redis", None):
        config.store.redis_url = args.redis
    return config


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from actors.demo import DEFAULT_CHANNELS, DemoSettings, print_report, run_demo
    from actors.local_stack.spec import parse_channels

    channels = dict(DEFAULT_CHANNELS)
    if args.channels is not None:
        try:
            channels = parse_channels(args.channels)
        except ValueError as exc:
            raise ConfigError("--channels", str(exc)) from None
    if args.seconds <= 0:
        raise ConfigError("--seconds", "must be positive")
    if args.rate <= 0:
        raise ConfigError("--rate", "must be positive")
    config = resolve(args)
    console = Console(stderr=True)
    settings = DemoSettings(
        seconds=args.seconds,
        orders_per_s=args.rate,
        channels=channels,
        redis_url=config.store.redis_url,
        ray_address=args.ray_address,
    )
    report = run_demo(settings, console)
    print_report(report, console)
    out = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    print(out.decode())
    if args.json:
        args.json.write_bytes(out)
    return EXIT_OK if not report["failures"] else EXIT_RUNTIME


def cmd_serve(args: argparse.Namespace) -> int:
    from actors.gateway.server import serve

    config = resolve(args)
    if args.host is not None:
        config.gateway.host = args.host
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise ConfigError("--port", "must be between 0 and 65535")
        config.gateway.port = args.port
    refuse_default_token(config)
    try:
        return serve(config, args.ray_address)
    except OSError as exc:
        where = f"{config.gateway.host}:{config.gateway.port}"
        print(f"skusync: cannot listen on {where}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


DEFAULT_TOKEN = "change-me"


def refuse_default_token(config: Config) -> None:
    """``ConfigError`` (exit 2) when the admin API would listen beyond this machine with the
    default token, which anyone who has read the documentation knows; on loopback ``serve`` only
    warns, so the demo and local trials start as they are."""
    host = config.gateway.host
    if config.gateway.admin_token.get_secret_value() == DEFAULT_TOKEN and not _loopback(host):
        raise ConfigError(
            "gateway.admin_token",
            f"the default token {DEFAULT_TOKEN!r} is refused on {host or 'every address'}: "
            "set SKUSYNC_ADMIN_TOKEN (or [gateway] admin_token), or listen on 127.0.0.1",
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere, or "" (every address)


def admin_client(args: argparse.Namespace) -> AdminClient:
    """The admin client from ``--url/--token`` or ``SKUSYNC_URL`` / ``SKUSYNC_ADMIN_TOKEN``."""
    from actors.gateway.client import AdminClient

    url = args.url or os.environ.get("SKUSYNC_URL") or "http://127.0.0.1:8000"
    token = args.token or os.environ.get("SKUSYNC_ADMIN_TOKEN")
    if not token:
        raise ConfigError("--token", "the admin token is required (or set SKUSYNC_ADMIN_TOKEN)")
    return AdminClient(url, token)


def cmd_admin(args: argparse.Namespace) -> int:
    """``stock``, ``audit``, ``orders`` and ``dlq``: one admin API call, its JSON answer on stdout."""
    from actors.gateway.client import AdminError

    client = admin_client(args)
    try:
        if args.command == "stock":
            calls = {
                "get": lambda: client.stock_get(args.sku),
                "set": lambda: client.stock_set(args.sku, args.quantity),
                "adjust": lambda: client.stock_adjust(args.sku, args.delta, args.reason),
            }
            answer = calls[args.action]()
        elif args.command == "audit":
            answer = client.audit(args.sku, args.limit)
        elif args.command == "reconcile":
            if not 0 <= args.wait <= 300:
                raise ConfigError("--wait", "must be between 0 and 300 seconds")
            from actors.reconcile_follow import follow

            answer = follow(client, args.channel, args.wait)
            if answer.get("status") != "done":  # the reports say what it did before it stopped
                print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
                print(f"skusync: reconcile {answer['status']}: {answer.get('reason', '')}", file=sys.stderr)
                return EXIT_RUNTIME
        elif args.command == "dlq":
            if args.action == "list":
                answer = client.dlq_list(args.channel, args.limit)
            else:
                answer = client.dlq_redrive(args.channel)
        else:
            answer = client.orders(args.channel, args.status, args.limit)
    except AdminError as exc:
        print(f"skusync: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    finally:
        client.close()
    print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    return EXIT_OK


COMMANDS = {
    "demo": cmd_demo,
    "serve": cmd_serve,
    "stop": cmd_stop,
    "stock": cmd_admin,
    "audit": cmd_admin,
    "orders": cmd_admin,
    "dlq": cmd_admin,
    "reconcile": cmd_admin,
}


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
