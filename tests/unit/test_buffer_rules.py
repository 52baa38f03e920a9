"""Buffer rules: listed quantities, exact percent rounding, config parsing, and monotonicity properties."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.buffer_rules import BufferRule, BufferRules


def test_no_rule_lists_everything() -> None:
    rule = BufferRule()
    assert [rule.listed(a) for a in (0, 1, 7, 1000)] == [0, 1, 7, 1000]
    assert rule.buffer(7) == 0


def test_fixed_buffer() -> None:
    rule = BufferRule(fixed=2)
    assert [rule.listed(a) for a in (0, 1, 2, 3, 10)] == [0, 0, 0, 1, 8]
    assert rule.buffer(10) == 2
    assert rule.buffer(1) == 1


def test_percent_rounds_the_reserve_up() -> None:
    rule = BufferRule(percent=10)
    assert rule.listed(1000) == 900
    assert rule.listed(5) == 4  # 0.5 units reserved rounds up to 1
    assert rule.listed(1) == 0


def test_percent_is_exact_for_decimal_inputs() -> None:
    # In floats 1000 * 0.1 / 100 rounds above 1 and ceil would reserve 2.
    assert BufferRule(percent=0.1).listed(1000) == 999
    assert BufferRule(percent=7).listed(100) == 93
    assert BufferRule(percent=33.3).listed(1000) == 667


def test_fixed_and_percent_add_up() -> None:
    assert BufferRule(fixed=3, percent=10).listed(100) == 87


def test_max_listed_caps() -> None:
    rule = BufferRule(max_listed=50)
    assert rule.listed(40) == 40
    assert rule.listed(500) == 50
    assert rule.buffer(500) == 450


def test_zero_at_or_below() -> None:
    rule = BufferRule(zero_at_or_below=3)
    assert [rule.listed(a) for a in (2, 3, 4)] == [0, 0, 4]


def test_negative_available_lists_nothing_and_shows_no_buffer() -> None:
    rule = BufferRule(fixed=1)
    assert rule.listed(-5) == 0
    assert rule.buffer(-5) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fixed": -1},
        {"fixed": 1.5},
        {"fixed": True},
        {"percent": -0.1},
        {"percent": 100.5},
        {"percent": float("nan")},
        {"percent": "5"},
        {"max_listed": -1},
        {"zero_at_or_below": -1},
    ],
)
def test_rejects_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        BufferRule(**kwargs)


def test_rule_from_config() -> None:
    rule = BufferRule.from_config({"fixed": 2, "percent": 5, "max_listed": 100})
    assert rule == BufferRule(fixed=2, percent=5, max_listed=100)
    assert BufferRule.from_config({}) == BufferRule()
    with pytest.raises(ValueError, match="pecent"):
        BufferRule.from_config({"pecent": 5})
    with pytest.raises(ValueError, match="_ratio"):
        BufferRule.from_config({"_ratio": 1})


def test_rules_default_and_overrides() -> None:
    rules = BufferRules(BufferRule(fixed=2), {"HOT-1": BufferRule(percent=50)})
    assert rules.rule_for("ANY") == BufferRule(fixed=2)
    assert rules.rule_for("HOT-1") == BufferRule(percent=50)
    assert rules.listed("ANY", 10) == 8
    assert rules.listed("HOT-1", 10) == 5


def test_rules_from_config_overrides_replace_the_whole_rule() -> None:
    rules = BufferRules.from_config(
        {"default": {"fixed": 2, "percent": 10}, "skus": {"A": {"max_listed": 5}}}
    )
    assert rules.default == BufferRule(fixed=2, percent=10)
    assert rules.rule_for("A") == BufferRule(max_listed=5)
    assert rules.listed("A", 100) == 5


def test_rules_from_empty_config() -> None:
    assert BufferRules.from_config(None) == BufferRules()
    assert BufferRules.from_config({}).listed("X", 4) == 4


def test_rules_from_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="overrides"):
        BufferRules.from_config({"overrides": {}})
    with pytest.raises(ValueError, match="fixd"):
        BufferRules.from_config({"skus": {"A": {"fixd": 1}}})


# --- properties --------------------------------------------------------------------------------

rules_st = st.builds(
    BufferRule,
    fixed=st.integers(0, 50),
    percent=st.one_of(st.floats(0, 100), st.decimals(0, 100, places=2).map(float)),
    max_listed=st.one_of(st.none(), st.integers(0, 1000)),
    zero_at_or_below=st.one_of(st.none(), st.integers(0, 50)),
)
available_st = st.integers(-100, 100_000)


@given(rules_st, available_st, st.integers(0, 1000))
def test_listed_is_monotone_non_decreasing(rule: BufferRule, available: int, more: int) -> None:
    assert rule.listed(available) <= rule.listed(available + more)
    assert rule.listed(available) <= rule.listed(available + 1)


@given(rules_st, available_st)
def test_listed_never_exceeds_available_and_respects_caps(rule: BufferRule, available: int) -> None:
    listed = rule.listed(available)
    assert 0 <= listed <= max(0, available)
    if rule.max_listed is not None:
        assert listed <= rule.max_listed
    if rule.zero_at_or_below is not None and available <= rule.zero_at_or_below:
        assert listed == 0
    assert rule.buffer(available) >= 0
    assert rule.buffer(available) + listed == max(0, available)


@given(st.integers(0, 50), st.decimals(0, 100, places=3), st.integers(1, 100_000))
def test_listed_matches_exact_decimal_arithmetic(fixed: int, percent: Decimal, available: int) -> None:
    rule = BufferRule(fixed=fixed, percent=float(percent))
    expected = max(0, available - fixed - math.ceil(available * percent / 100))
    assert rule.listed(available) == expected
