"""The worked example of a generic channel (the README's), which the simulator, its conformance
driver and its demo accounts all use: "Acme Market", a marketplace skusync has no module for.

``EXAMPLE_TOML`` is what a seller writes; ``example_channel`` is its ``[[channels]]`` table with
this process's URL and secrets (``webhook_secret`` and ``access_token`` come from the environment
in a real deployment: ``SKUSYNC_CHANNEL_ACME_WEBHOOK_SECRET``, ``SKUSYNC_CHANNEL_ACME_ACCESS_TOKEN``).
"""

from __future__ import annotations

import tomllib
from typing import Any

EXAMPLE_TOML = """\
[[channels]]
id = "acme"
kind = "generic"
base_url = "https://api.acme-market.example"
webhook_secret = "..."
access_token = "..."
rate_limit = { per_second = 5, burst = 5 }

[channels.inbound]                 # where a webhook's fields sit (JSON paths)
event_id = "$.event.id"            # the idempotency key
order = "$.data.order"             # the order object; the paths below are relative to it
order_id = "$.id"
version = "$.updated_at"           # last modified: the order's version
placed_at = "$.created_at"
time_format = "iso8601"            # iso8601 | unix_s | unix_ms
status = "$.status"
lines = "$.items[*]"
sku = "$.sku"                      # line paths are relative to each line
quantity = "$.quantity"            # units the line still claims
kept = "$.refunded_unrestocked"    # units refunded without going back to stock

[channels.inbound.statuses]        # status -> placed | updated | cancelled | cancelled_no_restock | ignored
pending = "ignored"
paid = "placed"
edited = "updated"
shipped = "updated"
refunded = "updated"
cancelled = "cancelled"
voided = "cancelled_no_restock"

[channels.signature]
algorithm = "hmac-sha256"          # hmac-sha1 | hmac-sha256 | hmac-sha512
header = "X-Acme-Signature"
signed = "{timestamp}.{body}"      # the raw body, the timestamp header's value
encoding = "hex"                   # hex | base64
prefix = "sha256="
timestamp_header = "X-Acme-Timestamp"
tolerance_s = 300

[channels.push]                    # one request sets up to batch_size quantities
method = "POST"
url = "/v2/inventory/batch"
body = { warehouse = "main", updates = "{items}" }
item = { sku = "{sku}", listing_id = "{id}", available = "{quantity}" }
batch_size = 50
errors = "$.errors[*]"             # per-item refusals in a 2xx answer
error_sku = "$.sku"
error_message = "$.message"

[channels.catalog]                 # listings: SKU, id for {id}, quantity for reconciliation
url = "/v2/listings"
items = "$.listings[*]"
sku = "$.sku"
id = "$.listing_id"
quantity = "$.available"
page_size = 100
size_param = "per_page"
page_param = "page"

[channels.orders]                  # optional: orders modified since, for backfill
url = "/v2/orders"
items = "$.orders[*]"
since_param = "updated_since"
since_format = "iso8601"
page_size = 100
size_param = "limit"
cursor_param = "cursor"
next_cursor = "$.next_cursor"
"""


def example_channel(channel_id: str, base_url: str, webhook_secret: str, access_token: str) -> dict[str, Any]:
    """The example's ``[[channels]]`` table for ``channel_id``, pointed at ``base_url``."""
    table: dict[str, Any] = tomllib.loads(EXAMPLE_TOML)["channels"][0]
    return table | {
        "id": channel_id,
        "base_url": base_url,
        "webhook_secret": webhook_secret,
        "access_token": access_token,
    }
