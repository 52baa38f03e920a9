"""Buffer rules: how many of the master's available units a channel may list.

A buffer holds back units so that the sales a channel makes before our update reaches it rarely
oversell. Each rule is monotone non-decreasing in ``available`` and never lists more than
``max(0, available)``: more stock never lists fewer units, and no rule invents stock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class BufferRule:
    """Units to hold back from one channel: ``fixed`` units plus ``percent`` of available (rounded up).

    ``max_listed`` caps the listed quantity; at or below ``zero_at_or_below`` available units the
    channel lists 0 (e.g. keep the last units for the seller's own shop).
    """

    fixed: int = 0
    percent: float = 0.0
    max_listed: int | None = None
    zero_at_or_below: int | None = None
    # Exact percent, so that 10% of 1000 is 100 and not ceil(100.00000000000001) = 101.
    _ratio: Fraction = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_int("fixed", self.fixed)
        if isinstance(self.percent, bool) or not isinstance(self.percent, int | float):
            raise ValueError(f"percent must be a number, got {self.percent!r}")
        # Above 100% one more unit could reserve more than one unit more, breaking monotonicity.
        if not (math.isfinite(self.percent) and 0 <= self.percent <= 100):
            raise ValueError(f"percent must be between 0 and 100, got {self.percent!r}")
        for name in ("max_listed", "zero_at_or_below"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name))
        object.__setattr__(self, "_ratio", Fraction(repr(self.percent)) / 100)

    def listed(self, available: int) -> int:
        """Quantity to list on the channel when the master has ``available`` units."""
        if available <= 0 or (self.zero_at_or_below is not None and available <= self.zero_at_or_below):
            return 0
        reserved = self.fixed + math.ceil(available * self._ratio)
        listed = max(0, available - reserved)
        return listed if self.max_listed is None else min(listed, self.max_listed)

    def buffer(self, available: int) -> int:
        """Units held back from the channel (for display); 0 when nothing is available."""
        return max(0, available) - self.listed(available)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BufferRule:
        """Build from a mapping with the field names as keys; raise ``ValueError`` on unknown keys."""
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown buffer rule keys {unknown} (known: {sorted(known)})")
        return cls(**config)


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


@dataclass(frozen=True)
class BufferRules:
    """One channel's buffer rules: a default rule plus whole-rule overrides for particular SKUs."""

    default: BufferRule = BufferRule()
    overrides: Mapping[str, BufferRule] = field(default_factory=dict)

    def rule_for(self, sku: str) -> BufferRule:
        """The override for ``sku`` if there is one, else the channel's default rule."""
        return self.overrides.get(sku, self.default)

    def listed(self, sku: str, available: int) -> int:
        """Quantity to list for ``sku`` when the master has ``available`` units."""
        return self.rule_for(sku).listed(available)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> BufferRules:
        """Build from ``{"default": {...rule...}, "skus": {sku: {...rule...}}}``; both keys optional.

        An SKU's rule replaces the default entirely rather than merging with it, so reading one
        entry tells the whole rule for that SKU.
        """
        config = config or {}
        unknown = sorted(set(config) - {"default", "skus"})
        if unknown:
            raise ValueError(f"unknown buffer rules keys {unknown} (known: ['default', 'skus'])")
        default = BufferRule.from_config(config.get("default") or {})
        skus = config.get("skus") or {}
        overrides = {str(sku): BufferRule.from_config(rule) for sku, rule in skus.items()}
        return cls(default, overrides)
