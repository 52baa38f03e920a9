"""ChangeOutbox keeps the newest version per SKU, across adds and failed deliveries."""

from __future__ import annotations

from engine.outbox import ChangeOutbox


def change(available: int, version: int) -> dict[str, object]:
    return {"available": available, "version": version, "source": None}


def test_newest_version_wins_and_take_empties() -> None:
    box = ChangeOutbox()
    box.add({"A": change(5, 2), "B": change(1, 1)})
    box.add({"A": change(9, 1), "B": change(0, 3)})  # A's older version is ignored
    assert len(box) == 2
    assert box.take() == {"A": change(5, 2), "B": change(0, 3)}
    assert len(box) == 0 and box.take() == {}


def test_restore_never_overwrites_a_newer_change() -> None:
    box = ChangeOutbox()
    box.add({"A": change(5, 2), "B": change(4, 1)})
    taken = box.take()
    box.add({"A": change(3, 3)})  # arrived while the delivery of ``taken`` was failing
    box.restore(taken)
    assert box.take() == {"A": change(3, 3), "B": change(4, 1)}
