"""The collectors' one clock: the job window counts back from CollectOptions.now, which build() hands on."""

from __future__ import annotations

import datetime as dt

import pytest

from aispm.collectors.base import CollectOptions, utc_now, window_start
from aispm.normalizer.providers import PROVIDERS

PINNED = dt.datetime(2024, 2, 29, 12, 0, tzinfo=dt.UTC)


def test_the_window_counts_back_from_the_injected_clock() -> None:
    assert window_start(lambda: PINNED, 30) == dt.datetime(2024, 1, 30, 12, 0, tzinfo=dt.UTC)
    paris = dt.timezone(dt.timedelta(hours=1))
    assert window_start(lambda: PINNED.astimezone(paris), 0) == PINNED
    assert window_start(lambda: PINNED, 0).tzinfo == dt.UTC


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        window_start(lambda: dt.datetime(2024, 2, 29), 30)   # a naive datetime: the mistake under test


def test_the_default_clock_is_the_wall_clock_in_utc() -> None:
    before = dt.datetime.now(dt.UTC)
    now = CollectOptions().now()
    assert now.tzinfo == dt.UTC and before <= now <= dt.datetime.now(dt.UTC)
    assert CollectOptions().now is utc_now


@pytest.mark.parametrize("provider", ["aws", "gcp"])
def test_build_hands_the_clock_to_the_collector(provider: str) -> None:
    def clock() -> dt.datetime:
        return PINNED

    collector = PROVIDERS[provider].build(CollectOptions(now=clock))
    assert collector.options.now is clock   # type: ignore[attr-defined]


def test_the_clock_is_not_serialized() -> None:
    assert "now" not in CollectOptions(now=lambda: PINNED).model_dump()
