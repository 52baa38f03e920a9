"""Run one soak profile and write its report.

Usage: python -m tests.soak.run --profile short|long [--out FILE] [--seed N]

``short`` (CI, via ``test_soak_short.py``): about 75 s of sale with every fault kind injected a
fixed number of times. ``long``: 30 minutes of sale with the kinds drawn round after round until
the time is up. Both: a two-node Ray cluster, a private Redis with ``appendfsync always``, the
gateway in its own process, a supervisor, Shopify and WooCommerce simulators whose shoppers send
signed webhooks at a flash sale's hot SKUs. After the sale: the marketplaces re-send every webhook
that got no 200 (as they retry), the channels settle, then every invariant is checked.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import redis

from actors.local_stack import StackSpec
from tests.soak.checks import check_all, check_converged
from tests.soak.cluster import TwoNodes, actor_info
from tests.soak.faults import KINDS, Scheduler, actor_roles, placement, wait_for
from tests.soak.memory import RssSampler
from tests.soak.stack import SoakStack, durable_redis

REDELIVERY_ROUNDS = 5


@dataclass(frozen=True)
class Profile:
    name: str
    min_sale_s: float
    """The sale runs at least this long, and on until every planned fault has recovered."""
    plan: tuple[str, ...]
    repeat: bool
    gap_s: tuple[float, float]
    skus: int
    hot_skus: int
    hot_stock: int
    """Units of each hot SKU: about what the shoppers ask of it over the sale, so the hot SKUs
    sell out near its end and the last units are fought over while faults go on."""
    stock: int
    rate_per_s: float
    """Webhooks offered per second per store."""
    rss_every_s: float
    settle_s: float


PROFILES = {
    "short": Profile(
        "short", 75.0, ("shard", "shard", *KINDS[1:]), False, (2.0, 5.0), 60, 10, 100, 25, 12.0, 1.0, 120.0
    ),
    "long": Profile("long", 1800.0, KINDS, True, (10.0, 40.0), 400, 20, 1500, 30, 12.0, 5.0, 300.0),
}


def run(profile: Profile, seed: int, workdir: Path) -> dict[str, Any]:
    started = time.time()
    nodes = TwoNodes()
    server = durable_redis(workdir)
    server.start()
    spec = StackSpec(
        skus=profile.skus,
        initial_quantity=lambda i: profile.hot_stock if i < profile.hot_skus else profile.stock,
        hot_skus=profile.hot_skus,
        redis_url=server.url,
        shards=2,
        shopper_rate_per_s=profile.rate_per_s,
        shopper_options={"hot_share": 0.8, "max_units": 1},
    )
    stack = SoakStack(spec, nodes, server)
    try:
        stack.start()
        sampler = RssSampler(lambda: pids(stack), profile.rss_every_s)
        sampler.start()
        placed = placement(stack)
        scheduler = Scheduler(stack, list(profile.plan), seed, profile.gap_s, profile.repeat)
        stack.start_shoppers()
        sale_t0 = time.monotonic()
        scheduler.run(sale_t0 + profile.min_sale_s)
        remaining = profile.min_sale_s - (time.monotonic() - sale_t0)
        if remaining > 0:
            time.sleep(remaining)  # the rest of the sale's planned length
        stack.stop_shoppers()
        sale_s = time.monotonic() - sale_t0
        undelivered = first_failures(stack)
        redelivered = redeliver(stack)
        client = redis.Redis.from_url(server.url)
        converged = check_converged(stack, client, profile.settle_s)
        invariants = {**check_all(stack, client), "channels_converged": converged}
        sampler.close()
        return {
            "profile": asdict(profile),
            "seed": seed,
            "date_utc": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "sale_s": round(sale_s, 1),
            "wall_s": round(time.time() - started, 1),
            "placement_at_start": placed,
            "shoppers": shopper_stats(stack),
            "webhooks_failed_before_redelivery": undelivered,
            "redelivered": redelivered,
            "faults": {
                kind: {"injected": scheduler.log.injected[kind], "survived": scheduler.log.survived[kind]}
                for kind in KINDS
            },
            "fault_events": scheduler.log.events,
            "invariants": invariants,
            "all_invariants_hold": all(v["ok"] for v in invariants.values()),
            "rss": (rss := sampler.summary()),
            "rss_bounded": rss_bounded(rss),
        }
    finally:
        stack.stop()
        server.kill()
        nodes.shutdown()


def pids(stack: SoakStack) -> dict[str, int | None]:
    """Role -> pid now: the gateway, Redis, each shard and channel actor, the supervisor."""
    out: dict[str, int | None] = {"gateway": stack.gateway_pid_now}
    proc = stack.redis.proc
    out["redis"] = None if proc is None or proc.poll() is not None else proc.pid
    for role, handle in actor_roles(stack).items():
        info = actor_info(handle)
        out[role] = int(info["Pid"]) if info.get("State") == "ALIVE" and info.get("Pid") else None
    return out


def first_failures(stack: SoakStack) -> dict[str, int]:
    """How the webhooks that got no 200 during the sale failed: status or error, with counts."""
    seen: Counter[str] = Counter()
    for account in stack.accounts.values():
        with account.store.lock:
            for o in account.store.orders:
                if not o.delivered:
                    seen[str(o.status) if o.status else (o.error.split(":")[0][:60] or "none")] += 1
    return dict(seen)


RSS_BOUND = (1.5, 64.0)
"""Generous on purpose: a process may grow by half, plus 64 MiB, between the second and last quarter."""


def rss_bounded(rss: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Reported, never asserted by a test: each role's last-quarter median within ``RSS_BOUND`` of
    its second-quarter median (a role restarted late has fewer samples; it is judged all the same)."""
    ratio, slack = RSS_BOUND
    over = {
        role: row
        for role, row in rss.items()
        if "q4_median_mib" in row and row["q4_median_mib"] > ratio * row["q2_median_mib"] + slack
    }
    return {"bound": f"q4 median <= {ratio} x q2 median + {slack:g} MiB", "ok": not over, "over": over}


def redeliver(stack: SoakStack) -> list[int]:
    """Re-send every webhook that got no 200, as the marketplaces retry, until none is left (at
    most ``REDELIVERY_ROUNDS`` rounds, each once the gateway answers); how many each round sent."""
    assert stack.gateway is not None
    rounds = []
    for _ in range(REDELIVERY_ROUNDS):
        wait_for(lambda: stack.idle() is not None and stack.master() is not None, 60)
        sent = stack.redeliver()
        rounds.append(sent)
        if not sent:
            break
    return rounds


def shopper_stats(stack: SoakStack) -> dict[str, dict[str, Any]]:
    assert stack.shopper_loop is not None
    return {cid: s.stats() for cid, s in stack.shopper_loop.shoppers.items()}


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "loadavg_at_end": [round(x, 2) for x in load],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--profile", choices=sorted(PROFILES), default="short")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--seed", type=int, default=19)
    p.add_argument("--sale-s", type=float, default=None, help="sale length, overriding the profile's")
    p.add_argument("--no-faults", action="store_true", help="the same sale without faults (a control run)")
    a = p.parse_args(argv)
    # A run stopped with SIGTERM still stops its cluster, Redis and gateway (``run``'s finally).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="soak-redis-") as tmp:
        profile = PROFILES[a.profile]
        if a.sale_s is not None:
            profile = replace(profile, min_sale_s=a.sale_s)
        if a.no_faults:
            profile = replace(profile, plan=())
        report = run(profile, a.seed, Path(tmp))
    report["machine"]["loadavg_at_start"] = load_at_start
    body = orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_bytes(body + b"\n")
    summary = {k: report[k] for k in ("faults", "all_invariants_hold", "sale_s", "wall_s")}
    print(orjson.dumps(summary).decode(), flush=True)
    return 0 if report["all_invariants_hold"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
