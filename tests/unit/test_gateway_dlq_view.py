"""How the admin API shows a dead letter: credentials never appear, whatever field carries them."""

from __future__ import annotations

from actors.gateway.dlq import REDACTED, secrets_of, shown
from engine.config import Config

CONFIG = Config.model_validate(
    {
        "gateway": {"admin_token": "admin-secret-1"},
        "channels": [
            {"id": "shop", "kind": "shopify", "access_token": "shpat_abc123", "webhook_secret": "whsec-9"},
            {"id": "woo", "kind": "woocommerce", "consumer_key": "ck_live_77", "consumer_secret": "cs_8888"},
            {"id": "tt", "kind": "tiktok", "app_key": "k", "warehouse_id": "gid://shopify/Location/1"},
        ],
    }
)


def test_every_configured_credential_is_collected_and_short_or_plain_values_are_not() -> None:
    found = secrets_of(CONFIG)
    for secret in ("admin-secret-1", "shpat_abc123", "whsec-9", "ck_live_77", "cs_8888"):
        assert secret in found
    assert "k" not in found and "gid://shopify/Location/1" not in found  # too short / not secret-named


def test_an_entry_shows_its_fields_without_user_info_query_or_echoed_secrets() -> None:
    entry = {
        "id": "17-0",
        "channel": "woo",
        "sku": "S1",
        "target": {"available": 3, "version": 4, "source": None},
        "request": {
            "method": "POST",
            "url": "http://user:pw-in-url@shop.test:8080/wp-json/wc/v3/products/batch?consumer_secret=x",
            "update": {"sku": "S1", "quantity": 3, "version": 4, "ids": {"product_id": 9}},
        },
        "response": {"status": 401, "body": '{"message": "bad key ck_live_77 / cs_8888"}'},
        "error": "HTTP 401: bad key ck_live_77",
        "attempts": 6,
        "at": 1700000000.5,
    }
    out = shown(entry, secrets_of(CONFIG))
    assert out["request"]["url"] == "http://shop.test:8080/wp-json/wc/v3/products/batch"
    assert out["response"] == {"status": 401, "body": f'{{"message": "bad key {REDACTED} / {REDACTED}"}}'}
    assert out["error"] == f"HTTP 401: bad key {REDACTED}"
    assert (out["sku"], out["attempts"], out["at"], out["target"]["version"]) == ("S1", 6, 1700000000.5, 4)
    assert out["request"]["update"]["ids"] == {"product_id": 9}
    assert "pw-in-url" not in repr(out) and "consumer_secret" not in repr(out)
