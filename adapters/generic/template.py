"""JSON request templates of a generic channel: filled in to push, matched back by the simulator.

A template is JSON (a TOML table in the configuration). A string that is exactly ``"{items}"``
becomes the list of rendered item templates, exactly ``"{quantity}"`` the number itself; any other
``{name}`` inside a string is replaced by the value's text. ``match`` is the inverse: it checks a
body against the template (same keys, same constants, numbers where a whole ``"{quantity}"`` was)
and returns what each placeholder held, which is how the simulator refuses malformed bodies.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from adapters.generic.keys import PLACEHOLDER

NUMBERS = ("quantity",)


def render(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        return {key: render(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, values) for value in template]
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole is not None and (whole.group(1) == "items" or whole.group(1) in NUMBERS):
        return values[whole.group(1)]
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def render_url(template: str, values: dict[str, Any]) -> str:
    """A URL template with each value percent-encoded as one path segment (a SKU may hold ``/``)."""
    return PLACEHOLDER.sub(lambda m: quote(str(values[m.group(1)]), safe=""), template)


def match(template: Any, value: Any, where: str = "$") -> dict[str, Any]:
    """What each placeholder holds in ``value``; ``ValueError`` naming where it differs."""
    if isinstance(template, dict):
        if not isinstance(value, dict) or set(value) != set(template):
            raise ValueError(f"{where}: expected an object with keys {sorted(template)}")
        found: dict[str, Any] = {}
        for key, sub in template.items():
            found |= match(sub, value[key], f"{where}.{key}")
        return found
    if isinstance(template, list):
        if not isinstance(value, list) or len(value) != len(template):
            raise ValueError(f"{where}: expected a list of {len(template)}")
        found = {}
        for i, sub in enumerate(template):
            found |= match(sub, value[i], f"{where}[{i}]")
        return found
    if not isinstance(template, str) or not PLACEHOLDER.search(template):
        if value != template or type(value) is not type(template):
            raise ValueError(f"{where}: expected {template!r}")
        return {}
    return _match_string(template, value, where)


def _match_string(template: str, value: Any, where: str) -> dict[str, Any]:
    whole = PLACEHOLDER.fullmatch(template)
    if whole is not None and whole.group(1) == "items":
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list of items")
        return {"items": value}
    if whole is not None and whole.group(1) in NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer")
        return {whole.group(1): value}
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string")
    pattern = "".join(
        f"(?P<{part[1:-1]}>.*?)" if PLACEHOLDER.fullmatch(part) else re.escape(part)
        for part in re.split(r"(\{[^{}]*\})", template)
        if part
    )
    found = re.fullmatch(pattern, value, re.DOTALL)
    if found is None:
        raise ValueError(f"{where}: expected {template!r}")
    return dict(found.groupdict())
