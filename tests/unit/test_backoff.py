"""Backoff: full-jitter delays, retry-after floors, attempt budget, and HTTP outcome classification."""

from __future__ import annotations

import random

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.backoff import Backoff, classify_http, is_transient_error


def test_ceiling_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0)
    assert [backoff.ceiling(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert Backoff(cap_s=30).ceiling(10**6) == 30


def test_delay_is_full_jitter_below_the_ceiling() -> None:
    backoff = Backoff(base_s=1, cap_s=100, rng=random.Random(7))
    delays = [backoff.delay(3) for _ in range(2000)]
    assert all(0 <= d <= 8 for d in delays)
    assert min(delays) < 0.5 and max(delays) > 7.5  # spread over the whole range, not clustered
    assert sum(delays) / len(delays) == pytest.approx(4, rel=0.1)


def test_seeded_rng_reproduces_delays() -> None:
    first = Backoff(rng=random.Random(42))
    second = Backoff(rng=random.Random(42))
    assert [first.delay(n) for n in range(6)] == [second.delay(n) for n in range(6)]


def test_retry_after_is_a_floor_even_above_the_cap() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30, rng=random.Random(1))
    assert backoff.delay(0, retry_after=2.0) == 2.0
    assert backoff.delay(10, retry_after=120.0) == 120.0
    assert 0 <= backoff.delay(0, retry_after=None) <= 0.5


def test_non_finite_retry_after_is_ignored() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30, rng=random.Random(1))
    assert backoff.delay(0, retry_after=float("nan")) <= 0.5
    assert backoff.delay(0, retry_after=float("inf")) <= 0.5


def test_exhausted_after_max_attempts() -> None:
    backoff = Backoff(max_attempts=6)
    assert not backoff.exhausted(0)
    assert not backoff.exhausted(5)
    assert backoff.exhausted(6)
    assert backoff.exhausted(7)


@pytest.mark.parametrize("kwargs", [{"base_s": 0}, {"cap_s": -1}, {"max_attempts": 0}])
def test_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_rejects_negative_attempt() -> None:
    with pytest.raises(ValueError):
        Backoff().delay(-1)


@pytest.mark.parametrize(
    ("status", "transport_error", "expected"),
    [
        (200, False, "ok"),
        (201, False, "ok"),
        (204, False, "ok"),
        (207, False, "ok"),
        (408, False, "retry"),
        (429, False, "retry"),
        (500, False, "retry"),
        (502, False, "retry"),
        (503, False, "retry"),
        (504, False, "retry"),
        (None, True, "retry"),
        (None, False, "retry"),
        (200, True, "retry"),  # the caller saw the transport fail: trust that over a stale status
        (400, False, "fail"),
        (401, False, "fail"),
        (403, False, "fail"),
        (404, False, "fail"),
        (409, False, "fail"),
        (422, False, "fail"),
        (301, False, "fail"),
        (100, False, "fail"),
        (600, False, "fail"),
    ],
)
def test_classify_http(status: int | None, transport_error: bool, expected: str) -> None:
    assert classify_http(status, transport_error) == expected


class TimeoutException(Exception):
    """Another client library's timeout: recognised by name, no import needed."""


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        ConnectionRefusedError(),
        ConnectionResetError(),
        httpx.ConnectTimeout("x"),
        httpx.ReadTimeout("x"),
        httpx.PoolTimeout("x"),
        httpx.ConnectError("x"),
        httpx.ReadError("x"),
        httpx.RemoteProtocolError("x"),
        TimeoutException(),
    ],
)
def test_transient_errors(exc: BaseException) -> None:
    assert is_transient_error(exc)


@pytest.mark.parametrize(
    "exc",
    [ValueError(), KeyError("k"), httpx.UnsupportedProtocol("x"), httpx.LocalProtocolError("x")],
)
def test_permanent_errors(exc: BaseException) -> None:
    assert not is_transient_error(exc)


# --- properties --------------------------------------------------------------------------------


@given(
    st.floats(0.001, 10),
    st.floats(0.001, 600),
    st.integers(0, 5000),
    st.integers(0, 2**32),
    st.one_of(st.none(), st.floats(0, 3600)),
)
def test_delay_within_zero_and_cap_and_at_least_retry_after(
    base: float, cap: float, attempt: int, seed: int, retry_after: float | None
) -> None:
    backoff = Backoff(base_s=base, cap_s=cap, rng=random.Random(seed))
    jittered = Backoff(base_s=base, cap_s=cap, rng=random.Random(seed)).delay(attempt)
    assert 0 <= jittered <= min(cap, base * 2.0 ** min(attempt, 1000))
    delay = backoff.delay(attempt, retry_after=retry_after)
    if retry_after is None:
        assert delay == jittered
    else:
        assert delay == max(jittered, retry_after)
        assert delay >= retry_after
        assert delay <= max(cap, retry_after)


@given(st.integers(0, 999), st.booleans())
def test_classify_http_is_total(status: int, transport_error: bool) -> None:
    outcome = classify_http(status, transport_error)
    assert outcome in ("ok", "retry", "fail")
    assert (outcome == "ok") == (200 <= status < 300 and not transport_error)
