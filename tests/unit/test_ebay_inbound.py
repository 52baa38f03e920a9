"""eBay inbound: X-EBAY-SIGNATURE checked with ECDSA (valid, wrong key, altered body, missing or
malformed header, the SDK's re-serialised form), public keys fetched by kid from the simulator
(unknown kid, the negative cache, the spacing between blocking misses), the endpoint challenge, and
ORDER_CONFIRMATION normalised into an order event keyed by its notificationId."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from adapters.base import AdapterError, SignatureError
from adapters.ebay import notifications, orders, public_keys, signature
from adapters.ebay.inbound import EbayInbound, challenge_response
from adapters.ebay.oauth import EbayTokens
from adapters.ebay.sim import notify
from adapters.ebay.sim.app import EbaySimulator
from adapters.sim.core import serve_in_thread
from engine.config import ChannelConfig
from tests.unit.clock import FakeClock


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EbaySimulator, str]]:
    sim = EbaySimulator()
    url, stop = serve_in_thread(sim.app)
    yield sim, url
    stop()


def channel(url: str = "https://api.ebay.com", **over: Any) -> ChannelConfig:
    keys = {
        "base_url": url,
        "token_url": f"{url}/identity/v1/oauth2/token",
        "client_id": "sim-client-id",
        "client_secret": "sim-client-secret",
        "refresh_token": "v^1.1#sim-refresh",
        "verification_token": "token-0123456789-abcdefghij-0123456789",
        "endpoint_url": "https://sync.example.com/webhooks/ebay-us",
    }
    return ChannelConfig(id="ebay-us", kind="ebay", **{**keys, **over})


SIGNER = notify.Signer(kid="kid-1")
KEY = signature.load_key(SIGNER.answer())
BODY, HEADERS = notify.signed(SIGNER, notify.order_confirmation("12-1-1", [("L1", "110", 2)], 1.79e9, "n-1"))


def check(body: bytes, header: str) -> None:
    signature.verify(KEY, signature.parse_header(header), body)


def test_a_valid_signature_passes_and_names_its_kid() -> None:
    check(BODY, HEADERS[signature.HEADER])
    assert signature.parse_header(HEADERS[signature.HEADER]).kid == "kid-1"


def test_a_signature_over_the_sdk_form_passes_for_a_pretty_printed_body() -> None:
    """eBay's SDK verifies JSON.stringify(JSON.parse(body)): a body sent with spaces, signed in
    compact form, passes (``signed_messages``)."""
    pretty = orjson.dumps(orjson.loads(BODY), option=orjson.OPT_INDENT_2)
    check(pretty, SIGNER.headers(BODY)[signature.HEADER])


@pytest.mark.parametrize(
    "how",
    [
        "wrong_key",
        "altered_body",
        "missing_header",
        "not_base64",
        "not_json",
        "no_kid",
        "other_alg",
        "bad_der",
    ],
)
def test_every_bad_signature_is_refused(how: str) -> None:
    fields = orjson.loads(base64.b64decode(HEADERS[signature.HEADER]))
    header, body = HEADERS[signature.HEADER], BODY
    encode = lambda f: base64.b64encode(orjson.dumps(f)).decode()  # noqa: E731
    if how == "wrong_key":
        header = notify.Signer(kid="kid-1").headers(BODY)[signature.HEADER]
    elif how == "altered_body":
        body = BODY.replace(b'"quantity":2', b'"quantity":3')
    elif how == "missing_header":
        header = ""
    elif how == "not_base64":
        header = "%%%not-base64%%%"
    elif how == "not_json":
        header = base64.b64encode(b"kid=1").decode()
    elif how == "no_kid":
        header = encode({k: v for k, v in fields.items() if k != "kid"})
    elif how == "other_alg":
        header = encode(fields | {"alg": "rsa"})
    elif how == "bad_der":
        header = encode(fields | {"signature": base64.b64encode(b"\x30\x02\x01").decode()})
    with pytest.raises(SignatureError):
        check(body, header)


def test_public_keys_come_from_get_public_key_and_an_unknown_kid_is_refused(
    served: tuple[EbaySimulator, str],
) -> None:
    sim, url = served
    clock = FakeClock()
    keys = public_keys.PublicKeys(url, EbayTokens(channel(url), user=False), clock=clock)
    body, headers = notify.signed(sim.signer, notify.order_confirmation("1", [("L", "9", 1)], 1.79e9))
    header = signature.parse_header(headers[signature.HEADER])
    signature.verify(keys.get(header.kid), header, body)
    assert keys.fetches == 1
    signature.verify(keys.get(header.kid), header, body)  # cached: no second fetch
    assert keys.fetches == 1

    clock.advance(5)
    with pytest.raises(SignatureError, match="unknown signing key"):
        keys.get("forged-kid")  # eBay answers 404
    assert keys.fetches == 2
    with pytest.raises(SignatureError, match="try again"):
        keys.get("another-forged-kid")  # a blocking miss just ran: refused at once, no fetch
    clock.advance(5)
    with pytest.raises(SignatureError, match="unknown signing key"):
        keys.get("forged-kid")  # remembered: refused without asking eBay again
    assert keys.fetches == 2


def test_the_gateway_adapter_verifies_with_the_fetched_key(served: tuple[EbaySimulator, str]) -> None:
    sim, url = served
    body, headers = notify.signed(sim.signer, notify.order_confirmation("1", [("L", "9", 1)], 1.79e9))
    lowered = {k.lower(): v for k, v in headers.items()}
    EbayInbound().verify(channel(url), lowered, body)
    with pytest.raises(SignatureError):
        EbayInbound().verify(channel(url), lowered, body.replace(b'"quantity":1', b'"quantity":4'))


def test_the_challenge_is_sha256_of_code_token_and_endpoint() -> None:
    # The value is recomputed independently of the adapter (hashlib on the concatenation).
    import hashlib

    ch = channel()
    code = "a8628072-3d33-45ee-9004-bee86830a22d"
    want = hashlib.sha256(
        (
            code + "token-0123456789-abcdefghij-0123456789" + "https://sync.example.com/webhooks/ebay-us"
        ).encode()
    ).hexdigest()
    assert EbayInbound().challenge(ch, {"challenge_code": code}) == {"challengeResponse": want}
    assert challenge_response(code, "t", "u") != want
    assert EbayInbound().challenge(ch, {}) is None


def learned(**pairs: str) -> notifications.ListingMap:
    found = notifications.ListingMap()
    found.learn({f"legacyItemId:{k.removeprefix('L')}": v for k, v in pairs.items()})
    return found


def no_fetch(order_id: str) -> dict[str, Any]:
    raise AssertionError("every listing was known: no order fetch expected")


def test_order_confirmation_becomes_an_order_placed_keyed_by_notification_id() -> None:
    note = notify.order_confirmation(
        "12-345", [("A", "110", 2), ("B", "111", 1), ("C", "110", 1)], 1.79e9, "nid-7"
    )
    inbound = notifications.normalise(
        "ebay-us", orjson.dumps(note), learned(L110="S-1", L111="S-2"), no_fetch
    )
    [event] = inbound.events
    assert event["kind"] == "order_placed" and event["key"] == "ebay:nid-7"
    assert event["order_id"] == "12-345" and event["version"] == 1_790_000_000_000
    assert [(line["sku"], line["quantity"]) for line in event["lines"]] == [("S-1", 3), ("S-2", 1)]
    again = notifications.normalise("ebay-us", orjson.dumps(note), learned(L110="S-1", L111="S-2"), no_fetch)
    assert again.events[0]["key"] == event["key"]  # a redelivery is the same event


def test_an_unknown_listing_is_learned_from_get_order(served: tuple[EbaySimulator, str]) -> None:
    sim, url = served
    sim.seed([{"sku": "FETCHED-1", "quantity": 5}], reset=False)
    placed = sim.store.try_sell([("FETCHED-1", 2)])
    assert placed is not None
    body, _ = sim.render_webhook(placed)
    ch, listings = channel(url), notifications.ListingMap()
    inbound = notifications.normalise(ch.id, body, listings, lambda oid: orders.fetch_sync(ch, oid))
    assert [(x["sku"], x["quantity"]) for x in inbound.events[0]["lines"]] == [("FETCHED-1", 2)]
    assert listings.fetches == 1
    notifications.normalise(ch.id, body, listings, no_fetch)  # now known: no fetch


def test_other_topics_are_ignored_and_malformed_bodies_refused() -> None:
    other = {"metadata": {"topic": "MARKETPLACE_ACCOUNT_DELETION"}, "notification": {"notificationId": "n"}}
    assert notifications.normalise("c", orjson.dumps(other), learned(), no_fetch).note.startswith("ignored")
    note = notify.order_confirmation("1", [("A", "110", 0)], 1.79e9)
    with pytest.raises(AdapterError, match="quantity"):
        notifications.normalise("c", orjson.dumps(note), learned(L110="S"), no_fetch)
    with pytest.raises(AdapterError, match="notificationId"):
        notifications.normalise("c", b'{"metadata": {}, "notification": {}}', learned(), no_fetch)
