"""Order versions as documents (``engine.history.versions``): pure functions over stored rows."""

from __future__ import annotations

from typing import Any

from engine.history.streams import Entry
from engine.history.versions import choose, documents, merge, version_rows, view


def entry(ms: int, vs: int, key: str, kind: str, sku: str, delta: int, outcome: str, **more: Any) -> Entry:
    doc = {
        "key": key, "kind": kind, "channel": "c", "order_id": "o", "sku": sku, "delta": delta,
        "before": 10, "after": 10 + delta, "version": ms, "outcome": outcome, "at": ms / 1000, **more,
    }  # fmt: skip
    return Entry(vs, ms, 0, doc)


def test_lines_accumulate_and_status_follows_the_records_rules() -> None:
    es = [
        entry(1, 0, "k1", "order_placed", "A", -2, "accepted"),
        entry(1, 1, "k1", "order_placed", "B", -1, "insufficient"),
        entry(2, 0, "k2", "order_updated", "A", 1, "returned"),
        entry(3, 1, "k3", "order_cancelled", "B", 1, "returned"),
        entry(4, 0, "k4", "order_cancelled", "A", 0, "needs_decision"),
    ]
    # one event's lines in two batches, the later one first: the same rows as one batch
    split = merge([*version_rows(es[1:]), *version_rows(es[:1])])[("c", "o")]
    assert split == merge(version_rows(es))[("c", "o")]
    docs = documents(split)
    assert [d["status"] for d in docs] == [
        "oversold",
        "oversold",
        "partially_cancelled",
        "partially_cancelled",
    ]
    assert [(ln["sku"], ln["requested"], ln["accepted"]) for ln in docs[0]["lines"]] == [
        ("A", 2, 2),
        ("B", None, 1),
    ]
    assert [(ln["sku"], ln["requested"], ln["accepted"]) for ln in docs[1]["lines"]] == [("A", 1, 1)]
    assert docs[3]["lines"][0]["outcome"] == "needs_decision" and docs[3]["lines"][0]["accepted"] == 1
    shown = view("c", "o", docs, None)
    assert shown is not None and shown["cancelled_at"] == 0.004 and shown["placed_at"] == 0.001


def test_a_sellers_order_released_shows_nothing_and_a_reserved_one_is_reserved() -> None:
    held = entry(1, 0, "r", "order_reserve", "A", 0, "reserved")
    held.doc["after"] = 7  # three units held out of ten
    (rows,) = merge(version_rows([held])).values()
    assert documents(rows)[0]["status"] == "reserved" and documents(rows)[0]["lines"][0]["requested"] == 3
    released = entry(2, 0, "x", "order_release", "A", 0, "released")
    (rows,) = merge(version_rows([held, released])).values()
    assert view("c", "o", documents(rows), None) is None


def test_the_records_view_is_shown_unless_a_line_they_lost_is_in_the_versions() -> None:
    def shown(*skus: str) -> dict[str, Any]:
        return {"lines": [{"sku": s} for s in skus], "from": "records" if len(skus) < 3 else "versions"}

    live, both = shown("B"), {"lines": [{"sku": "A"}, {"sku": "B"}], "from": "versions"}
    assert choose(live, both) is both  # A's record expired before B's
    assert choose(shown("A", "B"), both)["from"] == "records"  # type: ignore[index]
    assert choose(None, both) is both and choose(live, None) is live and choose(None, None) is None
