"""Keys of ``kind = "generic"`` channels: a marketplace described by configuration alone.

Five tables, each checked when the configuration is read (a bad path, template, algorithm or
paging choice exits 2 naming ``<table>.<key>``): ``inbound`` (where the order and its fields sit in
a webhook's JSON, ``adapters.generic.jsonpath`` paths, and what each status means), ``signature``
(the webhook's HMAC scheme), ``push`` (the request that sets quantities: method, URL and JSON body
templates, batch size, auth header), ``catalog`` (the paged read of listings: SKU, id, quantity)
and ``orders`` (the optional paged orders-since read for backfill). Keys are the common ones
otherwise: ``base_url`` (relative URLs are joined to it), ``webhook_secret`` (the HMAC key),
``access_token`` (sent in ``push.auth_header``), ``rate_limit`` (requests per second and burst).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from adapters.generic.jsonpath import array_of, compile_path, is_plain
from engine.channel_keys import ChannelKeys, register

TimeFormat = Literal["iso8601", "unix_s", "unix_ms"]
StatusClass = Literal["placed", "updated", "cancelled", "cancelled_no_restock", "ignored"]
ALGORITHMS = ("hmac-sha1", "hmac-sha256", "hmac-sha512")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _syntax(path: str) -> str:
    compile_path(path)
    return path


def _plain(path: str) -> str:
    if not is_plain(path):
        raise ValueError(f"must name one place (no [*]): {path!r}")
    return path


def _each(path: str) -> str:
    array_of(path)
    return path


Path = Annotated[str, AfterValidator(_syntax), AfterValidator(_plain)]
"""A JSON path to one value."""
Items = Annotated[str, AfterValidator(_syntax), AfterValidator(_each)]
"""A JSON path to the items of one array, ending with ``[*]``."""
Header = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$")]


def placeholders(template: Any) -> list[str]:
    """Every ``{name}`` in a string template or in the strings of a JSON template."""
    if isinstance(template, str):
        return PLACEHOLDER.findall(template)
    if isinstance(template, dict):
        return [p for value in template.values() for p in placeholders(value)]
    if isinstance(template, list):
        return [p for value in template for p in placeholders(value)]
    return []


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InboundSpec(Spec):
    """Where a webhook's order sits and what its status means. Order paths are relative to the
    order (``order``: ``$`` when the body is the order), line paths to each line."""

    event_id: Path | None = None
    """Body path of the delivery's event id (the idempotency key); none: ``<order id>:<version>:<status>``."""
    order: Path = "$"
    order_id: Path
    version: Path
    """The order's last-modified time: its version (in ms), so edits and cancels follow the versioned-
    order rules; also the read watermark."""
    time_format: TimeFormat = "iso8601"
    placed_at: Path | None = None
    """When the order was placed (same format); none: the version's time."""
    status: Path | None = None
    statuses: dict[str, StatusClass] = {}
    """Marketplace status -> ``placed`` / ``updated`` (the order holds its lines' units),
    ``cancelled`` (units come back), ``cancelled_no_restock`` (they do not), ``ignored``."""
    unknown_status: Literal["ignored", "refused"] = "ignored"
    """A status ``statuses`` does not name: answered 200 moving nothing, or refused 400."""
    lines: Items
    sku: Path = "$.sku"
    quantity: Path = "$.quantity"
    """Units the line still claims (ordered, less what was removed, cancelled or refunded)."""
    kept: Path | None = None
    """Units that left the line without coming back to stock (refunded without restocking)."""

    @model_validator(mode="after")
    def _status_map(self) -> InboundSpec:
        if self.statuses and self.status is None:
            raise ValueError("statuses needs status (the path of the order's status)")
        return self


class SignatureSpec(Spec):
    """HMAC over ``signed`` (``{body}``: the raw body; ``{timestamp}``: the timestamp header's value),
    keyed by the channel's ``webhook_secret``, sent ``<prefix><hex|base64 digest>`` in ``header``."""

    algorithm: Literal["hmac-sha1", "hmac-sha256", "hmac-sha512"] = "hmac-sha256"
    key_encoding: Literal["utf-8", "base64", "hex"] = "utf-8"
    """How ``webhook_secret`` becomes the HMAC key: its UTF-8 bytes, or decoded from base64 / hex
    (schemes that hand out a random binary key as text)."""
    header: Header
    signed: str = "{body}"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field("", max_length=40)
    timestamp_header: Header | None = None
    tolerance_s: float = Field(300.0, gt=0, le=86_400)
    """How far the signed timestamp (unix seconds) may be from our clock (with ``timestamp_header``)."""

    @field_validator("signed")
    @classmethod
    def _signed(cls, value: str) -> str:
        names = placeholders(value)
        if names.count("body") != 1 or set(names) - {"body", "timestamp"} or names.count("timestamp") > 1:
            raise ValueError("must hold {body} once, {timestamp} at most once, and no other placeholder")
        if set("{}") & set(PLACEHOLDER.sub("", value)):
            raise ValueError("a brace outside {body} and {timestamp}")
        return value

    @model_validator(mode="after")
    def _timestamp(self) -> SignatureSpec:
        if ("{timestamp}" in self.signed) != (self.timestamp_header is not None):
            raise ValueError(
                "timestamp_header and a {timestamp} in signed go together (an unsigned time proves nothing)"
            )
        return self


class PushSpec(Spec):
    """One request sets the quantities of up to ``batch_size`` SKUs. ``url`` (joined to ``base_url``
    unless absolute) may hold ``{sku}`` / ``{id}`` when ``batch_size`` is 1; ``body`` is a JSON
    template whose ``"{items}"`` becomes the list of ``item`` templates; in templates, ``{sku}``,
    ``{id}`` (the catalog's id) and ``{quantity}`` are replaced (a whole-string ``"{quantity}"`` by
    the number). A 2xx answer accepts every SKU but those ``errors`` lists."""

    method: Literal["POST", "PUT", "PATCH"] = "POST"
    url: str = Field(min_length=1, max_length=500)
    body: dict[str, Any] = {"items": "{items}"}
    item: dict[str, Any] = {"sku": "{sku}", "quantity": "{quantity}"}
    batch_size: int = Field(1, ge=1, le=1000)
    auth_header: Header = "Authorization"
    auth_scheme: str = Field("Bearer", max_length=40)
    """``<auth_scheme> <access_token>``; empty: the token alone."""
    errors: Items | None = None
    """Answer path of per-item errors; each names its SKU (``error_sku``) and why (``error_message``)."""
    error_sku: Path = "$.sku"
    error_message: Path = "$.message"

    @model_validator(mode="after")
    def _templates(self) -> PushSpec:
        known = {"items", "sku", "id", "quantity"}
        used = placeholders(self.url) + placeholders(self.body) + placeholders(self.item)
        if set(used) - known:
            raise ValueError(
                f"unknown placeholder {{{sorted(set(used) - known)[0]}}} "
                "(one of {items}, {sku}, {id}, {quantity})"
            )
        if set(placeholders(self.url)) & {"items", "quantity"}:
            raise ValueError("url may hold only {sku} and {id}")
        single = placeholders(self.url) + placeholders(self.body)
        items = placeholders(self.body).count("items")
        if items > 1 or (items == 1 and not _whole(self.body, "{items}")):
            raise ValueError('body must hold "{items}" once, as a whole value')
        if items == 0 and self.batch_size != 1:
            raise ValueError('body must hold "{items}" when batch_size is over 1')
        if ({"sku", "id"} & set(single)) and self.batch_size != 1:
            raise ValueError("{sku} and {id} outside item need batch_size 1 (one SKU a request)")
        named = single + (placeholders(self.item) if items else [])
        if "quantity" not in named or not {"sku", "id"} & set(named):
            raise ValueError("the request must carry {quantity} and {sku} or {id}")
        return self


def _whole(template: Any, value: str) -> bool:
    if isinstance(template, dict):
        return any(_whole(v, value) for v in template.values())
    if isinstance(template, list):
        return any(_whole(v, value) for v in template)
    return template == value


class ReadSpec(Spec):
    """A paged GET (``url`` joined to ``base_url`` unless absolute; the access token sent as in
    ``push``): ``items`` in each answer; pages by number (``page_param``, from ``first_page``) or
    by cursor (``cursor_param`` sent with the answer's ``next_cursor``), ``page_size`` items a page
    through ``size_param``. Page numbers stop at a short page, cursors at an absent one."""

    url: str = Field(min_length=1, max_length=500)
    items: Items
    page_size: int = Field(100, ge=1, le=1000)
    size_param: str | None = None
    page_param: str | None = None
    first_page: int = Field(1, ge=0)
    cursor_param: str | None = None
    next_cursor: Path | None = None

    @model_validator(mode="after")
    def _paging(self) -> ReadSpec:
        if placeholders(self.url):
            raise ValueError("url takes no placeholder (parameters are added by name)")
        if (self.cursor_param is None) != (self.next_cursor is None):
            raise ValueError("cursor_param and next_cursor go together")
        if self.cursor_param is not None and self.page_param is not None:
            raise ValueError("page by number (page_param) or by cursor (cursor_param), not both")
        return self


class CatalogSpec(ReadSpec):
    sku: Path = "$.sku"
    id: Path | None = None
    """The listing's own id, for ``{id}`` in push templates."""
    quantity: Path | None = None
    """What the listing holds (reconciliation's listed quantities); none: not read."""


class OrdersSpec(ReadSpec):
    """Orders modified at or after ``since`` (``since_param``, in ``since_format``), each read with
    the ``inbound`` order paths."""

    since_param: str = Field(min_length=1)
    since_format: TimeFormat = "iso8601"


class GenericKeys(ChannelKeys):
    """Keys of ``kind = "generic"`` channels (``adapters.generic``)."""

    inbound: InboundSpec | None = None
    signature: SignatureSpec | None = Field(None, validate_default=True)
    push: PushSpec | None = None
    catalog: CatalogSpec | None = Field(None, validate_default=True)
    orders: OrdersSpec | None = None

    @field_validator("signature", mode="after")
    @classmethod
    def _signed_inbound(cls, value: SignatureSpec | None, info: ValidationInfo) -> SignatureSpec | None:
        if value is None and info.data.get("inbound") is not None:
            raise ValueError("required with inbound (webhooks are never taken unsigned)")
        return value

    @field_validator("catalog", mode="after")
    @classmethod
    def _catalog_for_push(cls, value: CatalogSpec | None, info: ValidationInfo) -> CatalogSpec | None:
        push = info.data.get("push")
        if value is None and push is not None:
            raise ValueError("required with push (pushes go to the SKUs the catalog lists)")
        used = placeholders(push.url) + placeholders(push.body) + placeholders(push.item) if push else []
        if value is not None and "id" in used and value.id is None:
            raise ValueError("needs id: the push templates use {id}")
        return value

    @field_validator("orders", mode="after")
    @classmethod
    def _orders_read(cls, value: OrdersSpec | None, info: ValidationInfo) -> OrdersSpec | None:
        if value is not None and info.data.get("inbound") is None:
            raise ValueError("needs inbound (listed orders are read with its paths)")
        return value


register("generic", GenericKeys)
