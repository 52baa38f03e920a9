"""Amazon ``ORDER_CHANGE`` without ``Summary``: the order read through ``getOrder`` (v2026-01-01)
over loopback from the strict simulator, within the operation's budget, and mapped by the same
parser as reconciliation's ``searchOrders`` rows."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from adapters.amazon import orders
from adapters.amazon.inbound import AmazonInbound
from adapters.amazon.order_fetch import FetchDeferred, OrderFetcher, fetched_version
from adapters.amazon.sim.app import AmazonSimulator
from adapters.amazon.sim.orders import AmazonOrder
from adapters.amazon.sim.relay_sender import iso_ms, order_change
from adapters.amazon.sp_read import OpBucket
from adapters.base import AdapterError
from adapters.sim.core import TokenBucket, serve_in_thread
from engine.config import ChannelConfig

SELLER = "A2FETCHSELLER"
ORDER = "111-0000001-0000042"
T = 1_790_000_000.0

# The published getOrder example (orders_2026-01-01.json), trimmed to what the parser reads.
EXAMPLE = {
    "orderId": "202-1234567-8901234",
    "createdTime": "2024-12-25T09:15:00Z",
    "lastUpdatedTime": "2024-12-25T16:30:00Z",
    "salesChannel": {"channelName": "AMAZON", "marketplaceId": "A1F83G8C2ARO7P"},
    "fulfillment": {"fulfillmentStatus": "SHIPPED", "fulfilledBy": "MERCHANT"},
    "orderItems": [
        {
            "orderItemId": "20212345678901",
            "quantityOrdered": 3,
            "product": {"asin": "B08DFPV54V", "sellerSku": "ECHO-DOT-4-UK-CHARCOAL-3PACK"},
            "cancellation": {"cancellationRequest": {"requester": "BUYER", "cancelReason": "x"}},
        }
    ],
}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


@pytest.fixture
def served() -> Iterator[tuple[AmazonSimulator, str]]:
    sim = AmazonSimulator(seller_id=SELLER)
    sim.seed([{"sku": "F1", "quantity": 5}, {"sku": "F2", "quantity": 5}])
    sim.orders[ORDER] = AmazonOrder(ORDER, [("F1", 2), ("F2", 1)], T, T, "Unshipped")
    url, stop = serve_in_thread(sim.app)
    yield sim, url
    stop()


def channel(url: str) -> ChannelConfig:
    return ChannelConfig(
        id="amz-fetch",
        kind="amazon",
        base_url=url,
        webhook_secret="s",
        token_url=f"{url}/auth/o2/token",
        client_id="amzn1.application-oa2-client.sim",
        client_secret="sim-client-secret",
        refresh_token="Atzr|sim-refresh",
        seller_id=SELLER,
        marketplace_id="ATVPDKIKX0DER",
    )


def fetcher(clock: Clock, queued: int = 0) -> OrderFetcher:
    """A fetcher whose bucket and pauses run on ``clock`` (the simulator's getOrder bucket too);
    ``queued``: calls other gateway threads have reserved beyond an empty bucket."""
    own = OpBucket(0.5, 30.0, clock=clock)
    if queued:
        own.wait_time()
        own.level = -float(queued)
    return OrderFetcher(sleep=clock.sleep, buckets=lambda seller, op: own)


def thin(status: str = "Unshipped", t: float = T, nid: str = "n-thin") -> bytes:
    note = order_change(SELLER, ORDER, status, [], t, notification_id=nid, summary=False)
    return orjson.dumps(note)


def calls(sim: AmazonSimulator) -> int:
    return sim.store.counters.get("calls:getOrder", 0)


# -- one parser ---------------------------------------------------------------------------------------


def test_the_published_example_parses_as_searchorders_rows_do() -> None:
    state = orders.order_state(EXAMPLE)
    assert state is not None
    assert (state.status, state.units, state.by_amazon) == (
        "Shipped",
        {"ECHO-DOT-4-UK-CHARCOAL-3PACK": 3},
        False,
    )
    assert state.buyer_cancels == ("ECHO-DOT-4-UK-CHARCOAL-3PACK",)
    listed = orders.channel_order(EXAMPLE)
    assert listed is not None and listed.version == round(state.modified * 1000)
    assert orders.channel_order(EXAMPLE | {"fulfillment": {"fulfilledBy": "AMAZON"}}) is None


def test_the_version_is_the_later_of_the_read_and_the_change() -> None:
    state = orders.order_state(EXAMPLE)
    assert state is not None
    note = {"OrderChangeTrigger": {"TimeOfOrderChange": iso_ms(state.modified - 60)}}
    assert fetched_version(state, note) == round(state.modified * 1000)  # read after a later change
    note = {"OrderChangeTrigger": {"TimeOfOrderChange": iso_ms(state.modified + 0.284)}}
    assert fetched_version(state, note) == round((state.modified + 0.284) * 1000)  # whole-second read
    assert fetched_version(state, {}) == round(state.modified * 1000)
    with pytest.raises(FetchDeferred, match="before the change"):
        fetched_version(state, {"OrderChangeTrigger": {"TimeOfOrderChange": iso_ms(state.modified + 5)}})


# -- the inbound adapter -----------------------------------------------------------------------------


def test_with_summary_nothing_is_fetched(served: tuple[AmazonSimulator, str]) -> None:
    sim, url = served
    body = orjson.dumps(order_change(SELLER, ORDER, "Unshipped", [{"sku": "F1", "quantity": 2}], T))
    got = AmazonInbound().normalise(channel(url), {}, body)
    assert [e["kind"] for e in got.events] == ["order_updated"] and calls(sim) == 0


def test_without_summary_the_order_is_read_and_versioned_as_the_notification(
    served: tuple[AmazonSimulator, str],
) -> None:
    sim, url = served
    got = AmazonInbound(fetcher=fetcher(Clock())).normalise(channel(url), {}, thin())
    [event] = got.events
    assert event["kind"] == "order_updated" and event["key"] == "amazon:n-thin"
    assert event["lines"] == [
        {"sku": "F1", "quantity": 2, "kept": 0},
        {"sku": "F2", "quantity": 1, "kept": 0},
    ]
    assert event["version"] == round(T * 1000) and calls(sim) == 1
    sim.orders[ORDER].status = "Canceled"
    [cancel] = AmazonInbound(fetcher=fetcher(Clock())).normalise(channel(url), {}, thin(nid="n-c")).events
    assert cancel["kind"] == "order_cancelled" and cancel["skus"] == ["F1", "F2"] and cancel["restock"]


def test_a_throttled_read_waits_for_the_bucket_and_succeeds(served: tuple[AmazonSimulator, str]) -> None:
    sim, url = served
    clock = Clock()
    sim.buckets["getOrder"] = TokenBucket(1.0, 0.5, clock=clock)
    sim.buckets["getOrder"].take(1.0)  # another app of the seller's spent it
    got = AmazonInbound(fetcher=fetcher(clock)).normalise(channel(url), {}, thin())
    assert len(got.events) == 1 and calls(sim) == 2 and sim.store.counters["throttled"] == 1
    assert clock.t == pytest.approx(1002.0)  # one refill of the 0.5/s bucket, nothing more


def test_a_read_throttled_every_time_is_deferred_for_redelivery(served: tuple[AmazonSimulator, str]) -> None:
    sim, url = served
    clock = Clock()
    sim.buckets["getOrder"] = TokenBucket.spent(1e-9)
    with pytest.raises(FetchDeferred, match="3 times"):
        AmazonInbound(fetcher=fetcher(clock)).normalise(channel(url), {}, thin())
    assert calls(sim) == 3
    assert not issubclass(FetchDeferred, AdapterError)  # the gateway answers 5xx, not a final 400


def test_a_budget_spent_for_longer_than_a_thread_waits_defers_without_calling(
    served: tuple[AmazonSimulator, str],
) -> None:
    sim, url = served
    with pytest.raises(FetchDeferred, match="budget spent"):
        AmazonInbound(fetcher=fetcher(Clock(), queued=1)).normalise(channel(url), {}, thin())
    assert calls(sim) == 0


def test_an_order_amazon_does_not_have_is_refused(served: tuple[AmazonSimulator, str]) -> None:
    sim, url = served
    del sim.orders[ORDER]
    with pytest.raises(AdapterError, match="HTTP 404"):
        AmazonInbound(fetcher=fetcher(Clock())).normalise(channel(url), {}, thin())
