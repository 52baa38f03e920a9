"""Channels left on a budget their platform never published are named at start-up; the others are not."""

from __future__ import annotations

from actors.runtime import rate_guesses
from adapters.base import default_rate_guess
from engine.config import ChannelConfig


def channel(cid: str, kind: str, **extra: object) -> ChannelConfig:
    return ChannelConfig(id=cid, kind=kind, webhook_secret="s", **extra)  # type: ignore[arg-type]


def test_only_kinds_without_a_published_limit_are_guesses() -> None:
    assert default_rate_guess("woocommerce") is not None
    assert default_rate_guess("shopify") is None


def test_a_woocommerce_channel_without_rate_limit_is_named_with_the_figure_in_use() -> None:
    warnings = rate_guesses(
        [
            channel("woo-1", "woocommerce"),
            channel("woo-2", "woocommerce", rate_limit={"per_second": 10, "burst": 20}),
            channel("shop-1", "shopify"),
        ]
    )
    assert len(warnings) == 1
    assert warnings[0].startswith("channel woo-1: no rate_limit configured, so 5 requests/s (burst 10)")
    assert "set rate_limit" in warnings[0]
