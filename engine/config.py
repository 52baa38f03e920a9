"""Configuration: one TOML file, every key overridable from the environment.

``SKUSYNC_<SECTION>_<KEY>`` overrides ``[section] key`` (e.g. ``SKUSYNC_STORE_REDIS_URL``); a
channel's key is overridden by ``SKUSYNC_CHANNEL_<ID>_<KEY>`` with the id upper-cased and ``-``
turned into ``_`` (e.g. ``SKUSYNC_CHANNEL_SHOP_US_WEBHOOK_SECRET``), so secrets need not sit in the
file. ``SKUSYNC_REDIS_URL`` and ``SKUSYNC_ADMIN_TOKEN`` are accepted as the short forms that
INTERFACE.md documents. Any problem raises ``ConfigError`` naming the key.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.channel_keys import KIND_KEYS as KIND_KEYS
from engine.channel_keys import SECRET_KEYS, keys_for
from engine.events import ChannelId

KINDS = ("shopify", "woocommerce", "amazon", "ebay", "walmart", "etsy", "tiktok", "flipkart", "generic")


class ConfigError(ValueError):
    """A bad configuration file, key or value; ``key`` names it in dotted form."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(_Section):
    redis_url: str | None = None
    key_prefix: str = Field("skusync", pattern=r"^[A-Za-z0-9_.-]+$")
    audit_maxlen: int = Field(100_000, ge=1000)


class GatewayConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    admin_token: SecretStr = SecretStr("change-me")
    max_body_bytes: int = Field(1_048_576, ge=1024)
    batch_max_events: int = Field(512, ge=1)
    batch_max_wait_ms: float = Field(2.0, ge=0)
    batch_max_inflight: int = Field(8, ge=1, le=1024)
    """Unanswered flushes per shard before a shard's batch waits for one (see the gateway's batcher)."""
    max_pending_events: int = Field(256, ge=1, le=1_000_000)
    """Events per shard waiting for a flush (every one of its ``batch_max_inflight`` flushes is
    unanswered) at which new webhooks and ``POST /v1/orders`` needing that shard are answered 503
    with ``Retry-After``."""
    order_hold_s: float = Field(120.0, gt=0)
    """How long ``POST /v1/orders`` holds units before a sweeper may release an unfinished order."""
    order_sweep_interval_s: float = Field(5.0, gt=0)
    """How often each gateway looks for orders whose coordinator died between reserve and commit."""
    # Limits on HTTP connections (``actors.gateway.http_limits``): what one sender can hold.
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    """Request line plus headers, in bytes; a longer head is answered 431 and the connection closed."""
    max_headers: int = Field(100, ge=8, le=10_000)
    """Header fields per request; more is answered 431 and the connection closed."""
    header_timeout_s: float = Field(10.0, gt=0, le=3600)
    """From connect (or from the first byte after keep-alive) to the end of the request's head;
    then 408 and close."""
    body_timeout_s: float = Field(30.0, gt=0, le=3600)
    """From the end of the head to the end of the body, whole (a floor on a slow sender's rate:
    ``max_body_bytes / body_timeout_s``); then 408 and close."""
    keepalive_timeout_s: float = Field(5.0, gt=0, le=3600)
    """An idle keep-alive connection is closed after this long."""
    max_connections: int = Field(1000, ge=1, le=1_000_000)
    """Open client connections. At the cap a new connection closes the one idle longest, or is
    answered 503 and closed when every connection has a request in progress. ``serve`` needs
    ``max_connections + 256`` descriptors (``ulimit -n``): it raises its soft limit that far when
    the hard limit allows, else warns and lowers the cap to fit."""


class EngineConfig(_Section):
    shards: int = Field(2, ge=1, le=1024)
    vshards: int = Field(1024, ge=1, le=65536)
    idempotency_ttl_hours: float = Field(72, gt=0)
    reconcile_deadline_s: float = Field(900.0, gt=0, le=86_400)
    """A reconciliation run still going after this long is cancelled; its reports keep what it did."""
    link_host: str = "loopback"
    """Where shards listen for gateways' direct batch links (``actors.shard_link``): ``"loopback"``
    (127.0.0.1 only: gateways on the shard's node use the link, others Ray calls), ``"node"`` (also
    the node's address, as Ray reports it: what a cluster with gateways and shards on different
    nodes needs), or an IP address of the node. The link authenticates without sending its token
    but is not encrypted: open it beyond loopback only on a private network."""

    @field_validator("link_host")
    @classmethod
    def _link_host(cls, value: str) -> str:
        if value not in ("loopback", "node"):
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError('must be "loopback", "node" or an IP address') from None
        return value

    order_retention_hours: float = Field(2160.0, gt=0, le=87_600)
    """How long Redis keeps an order's record after its last change (90 days by default): the
    window in which an edit, cancel or refund is decided against the record. MARKETPLACES.md
    documents no refund or edit time limit for any kind (unverified: sellers' help pages speak of
    30-day return windows and claims up to about 90 days after delivery; Shopify names no limit), so
    90 days is a choice, not a sourced fact: a key, which a channel may override
    (``order_retention_hours`` on the channel). Later events find the order's marker instead
    (``order_marker_days``) and are answered ``needs_decision``."""
    order_marker_days: float = Field(400.0, gt=0, le=3650)
    """How long a compact marker (8 bytes in a hash bucket) remembers that an order existed after
    its record expired: an event for it is then ``needs_decision`` (shown in the audit trail, no
    stock moves) instead of being taken for a new order. Must cover every order retention window;
    past it an order is forgotten and a replay of it would count as a new sale."""

    @model_validator(mode="after")
    def _marker_covers_retention(self) -> EngineConfig:
        if self.order_marker_days * 24 < self.order_retention_hours:
            raise ValueError("order_marker_days must cover order_retention_hours")
        return self

    @property
    def idempotency_ttl_s(self) -> int:
        """The idempotency window in whole seconds, as Redis expiries take it."""
        return int(self.idempotency_ttl_hours * 3600)


class HistoryConfig(_Section):
    """``[history]``: the audit trail archived to PostgreSQL (``engine.history``, ``actors.archiver``).

    Without ``postgres_url`` nothing is archived and history is what the Redis audit streams keep
    (``store.audit_maxlen`` entries per vshard stream, approximately).
    """

    postgres_url: SecretStr | None = None
    """A libpq URL. A secret (it may carry a password): shown masked, never logged."""
    batch: int = Field(5000, ge=1, le=100_000)
    """Stream entries the archiver reads and writes in one PostgreSQL transaction, at most."""
    interval_s: float = Field(0.5, gt=0, le=60)
    """Pause between archiver rounds once it has caught up (no pause while a backlog remains)."""
    keep_in_redis_s: float = Field(300.0, ge=0, le=30 * 86_400)
    """Archived entries stay in Redis this long, so reads of recent history stay on Redis; only
    archived entries older than this are trimmed."""
    max_lag_s: float = Field(60.0, gt=0, le=86_400)
    """``/healthz`` reports ``degraded`` when the oldest unarchived entry is older than this."""
    max_backlog: int = Field(2_000_000, ge=1000, le=100_000_000)
    """With ``postgres_url``, each vshard's audit stream is capped at this many entries instead of
    ``store.audit_maxlen``: the cap is then the backlog Redis holds for the archiver (while it
    lags or PostgreSQL is down), not the history kept, so it must be far above what a flash sale
    adds to one hot SKU's stream before the archiver drains it (at ``store.audit_maxlen``'s
    100,000, a measured 31,000 orders/s on one hot SKU trimmed 215,000 entries unarchived)."""

    def url(self) -> str | None:
        """The URL itself, for the one place that connects."""
        return None if self.postgres_url is None else self.postgres_url.get_secret_value()


class RateLimit(_Section):
    per_second: float = Field(gt=0)
    burst: float = Field(gt=0)


class ChannelConfig(BaseModel):
    """One connected channel account. Keys beyond the common ones are checked against the kind's
    model (``engine.channel_keys``): an unknown or mistyped key is refused naming it; the checked
    values are kept as extras (``model_extra``, or attributes), where the actors and adapters
    read them."""

    model_config = ConfigDict(extra="allow")
    id: ChannelId
    kind: str
    base_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    default_buffer: int = Field(0, ge=0)
    rate_limit: RateLimit | None = None
    order_retention_hours: float | None = Field(None, gt=0, le=87_600)
    """This channel's order retention window (``engine.order_retention_hours`` when unset)."""

    def model_post_init(self, __context: Any) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r} (one of {', '.join(KINDS)})")
        extras = self.model_extra
        if extras is None:
            return
        typed = keys_for(self.kind)
        for name in extras:
            # A kind without an adapter yet (``actors.runtime.pushable`` warns of it) reads none of
            # its keys: they are kept unchecked for the adapter to come, the common ones typed.
            if name not in typed.model_fields and self.kind in KIND_KEYS:
                raise KeyProblem(name, f"unknown key (not one a {self.kind} channel takes)")
        try:
            keys = typed.model_validate({k: v for k, v in extras.items() if k in typed.model_fields})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise KeyProblem(".".join(str(p) for p in err["loc"]), _message(err)) from None
        # A key left unset (None) stays absent: its reader applies its own default.
        extras.update({n: v for n in typed.model_fields if (v := getattr(keys, n)) is not None})


class KeyProblem(ValueError):
    """A channel key that is unknown or whose value is refused; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def audit_cap(config: Config) -> int:
    """Entries each audit stream keeps at most: the history itself without PostgreSQL, the
    archiver's backlog bound with it."""
    if config.history.postgres_url is None:
        return config.store.audit_maxlen
    return config.history.max_backlog


def order_windows(config: Config) -> dict[str, Any]:
    """The order record windows a shard applies, in whole seconds (``engine.store.OrderWindows``):
    the default retention, the marker window and each channel's own retention where it sets one."""
    hours = config.engine.order_retention_hours
    return {
        "retention_s": max(1, int(hours * 3600)),
        "marker_s": max(1, int(config.engine.order_marker_days * 86_400)),
        "channels": {
            c.id: max(1, int(c.order_retention_hours * 3600))
            for c in config.channels
            if c.order_retention_hours
        },
    }


class Config(_Section):
    store: StoreConfig = StoreConfig()
    gateway: GatewayConfig = GatewayConfig()
    engine: EngineConfig = EngineConfig()
    history: HistoryConfig = HistoryConfig()
    channels: list[ChannelConfig] = []

    @model_validator(mode="after")
    def _markers_cover_channels(self) -> Config:
        marker_h = self.engine.order_marker_days * 24
        for c in self.channels:
            if c.order_retention_hours and c.order_retention_hours > marker_h:
                raise ValueError(f"channel {c.id}: order_retention_hours beyond engine.order_marker_days")
        return self

    def channel(self, channel_id: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.id == channel_id), None)


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (if given), apply environment overrides, validate; raise ``ConfigError``."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError("--config", f"no such file: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"not valid TOML: {exc}") from None
    _apply_env(raw, env)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(raw, exc) from None
    ids = [c.id for c in config.channels]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup:
        raise ConfigError(f"channels.{dup}.id", "duplicate channel id")
    return config


def _config_error(raw: dict[str, Any], exc: ValidationError) -> ConfigError:
    """The first error, named by its dotted key (a channel's extra key as ``channels.<id>: <key>``)."""
    err = exc.errors()[0]
    key = ".".join(_key_part(raw, err["loc"])) or "config"
    problem = (err.get("ctx") or {}).get("error")
    if isinstance(problem, KeyProblem):
        error = ConfigError(key, str(problem))
        error.key = f"{key}.{problem.key}"
        return error
    return ConfigError(key, _message(err))


def _message(err: Any) -> str:
    """Pydantic's message without its "Value error, " prefix; "unknown key" for an extra one."""
    if err["type"] == "extra_forbidden":
        return "unknown key"
    problem = (err.get("ctx") or {}).get("error")
    return str(problem) if err["type"] == "value_error" and problem is not None else str(err["msg"])


def _key_part(raw: dict[str, Any], loc: tuple[int | str, ...]) -> list[str]:
    """Dotted key for an error location, naming channels by id rather than list index."""
    out: list[str] = []
    node: Any = raw
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
            out.append(str(node.get("id", part)) if isinstance(node, dict) else str(part))
        else:
            node = node.get(part) if isinstance(node, dict) else None
            out.append(str(part))
    return out


def _coerce(value: str) -> Any:
    """Environment values are strings; TOML scalars parse the rest (numbers, booleans)."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    if "SKUSYNC_REDIS_URL" in env:
        raw.setdefault("store", {})["redis_url"] = env["SKUSYNC_REDIS_URL"]
    if "SKUSYNC_ADMIN_TOKEN" in env:
        raw.setdefault("gateway", {})["admin_token"] = env["SKUSYNC_ADMIN_TOKEN"]
    for section in ("store", "gateway", "engine", "history"):
        prefix = f"SKUSYNC_{section.upper()}_"
        for name, value in env.items():
            if name.startswith(prefix):
                key = name[len(prefix) :].lower()
                raw.setdefault(section, {})[key] = value if _string(key) else _coerce(value)
    for channel in raw.get("channels", []):
        if not isinstance(channel, dict) or "id" not in channel:
            continue
        prefix = "SKUSYNC_CHANNEL_" + str(channel["id"]).upper().replace("-", "_").replace(".", "_") + "_"
        for name, value in env.items():
            if name.startswith(prefix):
                key = name[len(prefix) :].lower()
                channel[key] = value if _string(key) else _coerce(value)


_STRINGS = {
    "redis_url", "admin_token", "host", "key_prefix", "webhook_secret", "access_token", "base_url",
    "api_version", "location_id", "link_host", "postgres_url",
}  # fmt: skip


def _string(key: str) -> bool:
    """Whether an environment value for ``key`` stays a string (kinds register their secret keys)."""
    return key in _STRINGS or key in SECRET_KEYS
