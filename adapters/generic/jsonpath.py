"""A small JSON path subset: where a generic channel's fields sit in a marketplace's JSON.

Grammar (a documented subset of Goessner's JSONPath, enough to locate fields, never to filter):
``$`` the document itself, then any number of ``.name`` (letters, digits, ``_`` and ``-``),
``['any name']`` (a key with other characters), ``[N]`` (an array index, 0-based, no negatives)
and ``[*]`` (every element of an array). Examples: ``$.order.id``, ``$.lines[*].sku``,
``$['line-items'][0]``. Paths of line fields are relative to the line: ``$.sku`` in each element
``$.order.lines[*]`` found.

Not supported (refused when the configuration is read, naming the key): filters ``[?()]``, slices,
recursive descent ``..``, unions, negative indices. A 40-line evaluator, tested on its own, rather
than a dependency (jsonpath-ng) whose wider syntax (filters, arithmetic) a configuration would
then accept and whose parser is far larger than what locating a field needs.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

WILD = object()
"""The ``[*]`` segment."""
Segment = str | int | object

_TOKEN = re.compile(r"\.([A-Za-z0-9_-]+)|\['([^'\\\]]+)'\]|\[([0-9]{1,6})\]|\[(\*)\]")
MISSING = object()
"""What ``first`` returns when the path leads nowhere (None is a JSON value: ``null``)."""


@lru_cache(maxsize=1024)
def compile_path(path: str) -> tuple[Segment, ...]:
    """The path's segments; ``ValueError`` saying where it stops being the supported subset."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise ValueError(f"JSON path must start with '$': {path!r}")
    segments: list[Segment] = []
    at = 1
    while at < len(path):
        match = _TOKEN.match(path, at)
        if match is None:
            raise ValueError(f"unsupported JSON path syntax at {path[at:]!r} in {path!r}")
        name, quoted, index, _ = match.groups()
        if name or quoted:
            segments.append(name or quoted)
        elif index is not None:
            segments.append(int(index))
        else:
            segments.append(WILD)
        at = match.end()
    return tuple(segments)


def is_plain(path: str) -> bool:
    """True when the path names one place (no ``[*]``)."""
    return WILD not in compile_path(path)


def find(doc: Any, path: str) -> list[Any]:
    """Every value the path reaches in ``doc`` (one at most without ``[*]``)."""
    current = [doc]
    for segment in compile_path(path):
        found: list[Any] = []
        for node in current:
            if segment is WILD:
                found.extend(node if isinstance(node, list) else [])
            elif isinstance(segment, int):
                if isinstance(node, list) and segment < len(node):
                    found.append(node[segment])
            elif isinstance(node, dict) and segment in node:
                found.append(node[segment])
        current = found
    return current


def first(doc: Any, path: str) -> Any:
    """The first value the path reaches, or ``MISSING``."""
    found = find(doc, path)
    return found[0] if found else MISSING


def put(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a path of keys (no index, no ``[*]``), making objects on the way; ``$`` alone
    cannot be set. For simulators that write what a configured channel reads."""
    segments = compile_path(path)
    if not segments or not all(isinstance(s, str) for s in segments):
        raise ValueError(f"cannot write at {path!r}: only paths of keys can be written")
    node = doc
    for name in segments[:-1]:
        node = node.setdefault(str(name), {})
    node[str(segments[-1])] = value


def array_of(path: str) -> str:
    """The path of the array a ``…[*]`` path iterates (``$.order.lines[*]`` -> ``$.order.lines``)."""
    if not path.endswith("[*]") or WILD in compile_path(path[:-3]):
        raise ValueError(f"must end with [*] (the items of one array): {path!r}")
    return path[:-3]
