"""The generic kind's JSON path subset: what it reads, what it refuses, and the simulator's writer."""

from __future__ import annotations

import pytest

from adapters.generic.jsonpath import MISSING, WILD, array_of, compile_path, find, first, is_plain, put

DOC = {
    "data": {"order": {"id": 7, "lines": [{"sku": "A", "n": 1}, {"sku": "B", "n": 2}, {"n": 3}]}},
    "odd key": {"x.y": True},
    "empty": None,
}


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("$", ()),
        ("$.data.order", ("data", "order")),
        ("$.a_b-c.D9", ("a_b-c", "D9")),
        ("$['odd key']['x.y']", ("odd key", "x.y")),
        ("$.lines[0]", ("lines", 0)),
        ("$.lines[*].sku", ("lines", WILD, "sku")),
    ],
)
def test_the_subset_compiles(path: str, segments: tuple[object, ...]) -> None:
    assert compile_path(path) == segments


@pytest.mark.parametrize(
    "path",
    [
        "data.order",
        "$..id",
        "$.lines[?(@.n>1)]",
        "$.lines[-1]",
        "$.lines[0:2]",
        "$.a[0,1]",
        "$.",
        "$[*",
        "$.a b",
    ],
)
def test_anything_beyond_the_subset_is_refused(path: str) -> None:
    with pytest.raises(ValueError):
        compile_path(path)


def test_find_and_first() -> None:
    assert find(DOC, "$.data.order.lines[*].sku") == ["A", "B"]  # a line without the key is left out
    assert find(DOC, "$.data.order.lines[*]")[2] == {"n": 3}
    assert first(DOC, "$.data.order.id") == 7
    assert first(DOC, "$.data.order.lines[1].n") == 2
    assert first(DOC, "$['odd key']['x.y']") is True
    assert first(DOC, "$.empty") is None  # JSON null is a value, not a miss
    assert first(DOC, "$.data.order.lines[9]") is MISSING
    assert first(DOC, "$.data.order.id.deeper") is MISSING
    assert find(DOC, "$.data.order[*]") == []  # [*] over an object finds nothing
    assert first(DOC, "$") is DOC


def test_plain_paths_and_arrays() -> None:
    assert is_plain("$.a[0].b") and not is_plain("$.a[*].b")
    assert array_of("$.order.lines[*]") == "$.order.lines"
    for bad in ("$.order.lines", "$.a[*].b[*]", "$.a[*].b"):
        with pytest.raises(ValueError):
            array_of(bad)


def test_put_writes_what_find_reads() -> None:
    doc: dict[str, object] = {}
    put(doc, "$.data.order.id", "X1")
    put(doc, "$.data.order.status", "paid")
    assert doc == {"data": {"order": {"id": "X1", "status": "paid"}}}
    assert first(doc, "$.data.order.id") == "X1"
    for bad in ("$", "$.a[0]", "$.a[*].b"):
        with pytest.raises(ValueError):
            put(doc, bad, 1)
