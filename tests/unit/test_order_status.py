"""One status for an order from its vshards' records, including ``POST /v1/orders`` orders."""

from __future__ import annotations

import pytest

from actors.gateway.views import order_status


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["accepted", "accepted"], "accepted"),
        (["accepted", "oversold"], "oversold"),
        (["oversold", "cancelled"], "partially_cancelled"),  # lines on one vshard cancelled
        (["cancelled", "cancelled", "parked_cancel"], "cancelled"),
        (["accepted", "partially_cancelled"], "partially_cancelled"),
        (["parked_cancel"], None),
        (["reserved", "reserved"], "reserved"),  # held, nothing sold yet
        (["accepted", "reserved"], "accepted"),  # commit decided, one shard not settled yet
        (["released", "released"], None),  # refused or abandoned: it took nothing
        (["released", "reserved"], "reserved"),  # release under way: one shard still holds
        ([], None),
    ],
)
def test_order_status(statuses: list[str], expected: str | None) -> None:
    assert order_status([{"status": s} for s in statuses]) == expected
