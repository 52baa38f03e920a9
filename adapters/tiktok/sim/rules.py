"""What the simulated Open API refuses before any handler runs, and the bodies it checks.

Each rule with its source; the error codes are the simulator's own unless said (TikTok's numbers are
not in the sources; only their groups: 105xxx and 360xxx are credential errors,
EcomPHP/tiktokshop-php src/Resource.php ``handleErrorResponse``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.tiktok.signing import request_sign

BAD_SIGN, BAD_APP, BAD_TIME, BAD_CIPHER = 106001, 106002, 106003, 106011
BAD_TOKEN = 105002
"""Group 105: credentials (Resource.php)."""
THROTTLED = 36009004
BAD_PARAM = 36009001
NO_PRODUCT, NO_SKU, NO_WAREHOUSE = 12052700, 12052217, 12052230
TIMESTAMP_TOLERANCE_S = 300
"""How far ``timestamp`` may be from the clock (a simulator choice: the sources name none)."""


def request_refusal(
    *,
    app_key: str,
    app_secret: str,
    shop_cipher: str,
    method: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    content_type: str,
    now: float,
) -> tuple[int, int, str] | None:
    """``(http status, code, message)`` for a request TikTok refuses, else None.

    - ``app_key`` must be the app's, ``timestamp`` unix seconds near now, ``sign`` the request's
      signature: path, sorted params but ``sign``/``access_token``, body unless GET, wrapped in the
      secret (EcomPHP src/Client.php ``prepareSignature``, partner.tiktokshop.com/doc/page/274638);
    - shop-scoped calls carry the shop's ``shop_cipher`` (Client.php ``modifyRequestBeforeSend``);
    - JSON bodies are sent as ``application/json`` (Client.php sets it by default).
    """
    if query.get("app_key") != app_key:
        return 401, BAD_APP, "invalid app_key"
    try:
        stamp = int(query.get("timestamp", ""))
    except ValueError:
        return 401, BAD_TIME, "timestamp missing"
    if abs(now - stamp) > TIMESTAMP_TOLERANCE_S:
        return 401, BAD_TIME, "timestamp expired"
    signed = b"" if method == "GET" else body
    if query.get("sign") != request_sign(app_secret, path, dict(query), signed):
        return 401, BAD_SIGN, "invalid sign"
    if query.get("shop_cipher") != shop_cipher:
        return 400, BAD_CIPHER, "shop_cipher missing or not this shop's"
    if method == "POST" and not content_type.startswith("application/json"):
        return 400, BAD_PARAM, "Content-Type must be application/json"
    return None


def page_size(query: Mapping[str, str]) -> int | None:
    """``page_size`` 1..100, required by the search methods (Resource.php ``extractParams`` always
    sends one; the method pages name the range)."""
    try:
        size = int(query.get("page_size", ""))
    except ValueError:
        return None
    return size if 1 <= size <= 100 else None


def inventory_refusal(body: Any, per_call: int) -> str | None:
    """Why an Update Inventory body is refused whole: ``skus`` 1..per_call of ``{id, inventory
    [{warehouse_id, quantity >= 0}]}`` (MARKETPLACES.md, TikTok Shop; Product.php ``updateInventory``)."""
    skus = body.get("skus") if isinstance(body, dict) else None
    if not isinstance(skus, list) or not 1 <= len(skus) <= per_call:
        return f"skus must hold 1..{per_call} SKUs"
    for i, sku in enumerate(skus):
        stock = sku.get("inventory") if isinstance(sku, dict) else None
        if (
            not isinstance(sku, dict)
            or not isinstance(sku.get("id"), str)
            or not isinstance(stock, list)
            or not stock
        ):
            return f"skus[{i}] needs an id and a non-empty inventory"
        for row in stock:
            qty = row.get("quantity") if isinstance(row, dict) else None
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("warehouse_id"), str)
                or type(qty) is not int
            ):
                return f"skus[{i}].inventory needs warehouse_id and an integer quantity"
            if qty < 0:
                return f"skus[{i}].inventory quantity must not be negative"
    return None
