"""forwardkit.measure.interleaved_ms / median_ratios: the shared way a cost claim is timed."""

from __future__ import annotations

import time

import pytest

from forwardkit.measure import interleaved_ms, median_ratios, medians


def test_every_call_runs_once_per_round_in_alternating_order() -> None:
    order: list[str] = []
    calls = {name: (lambda name=name: order.append(name)) for name in "abc"}
    times = interleaved_ms(calls, rounds=3, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert order == list("abc" "cba" "abc" "cba")


def test_ratios_pair_the_rounds() -> None:
    times = {"base": [1.0, 2.0, 4.0], "x": [2.0, 4.0, 8.0], "y": [4.0, 2.0, 4.0]}
    assert median_ratios(times, "base") == {"base": 1.0, "x": 2.0, "y": 1.0}
    assert medians(times)["y"] == 4.0
    with pytest.raises(KeyError, match="baseline 'z'"):
        median_ratios(times, "z")
    with pytest.raises(ValueError, match="rounds"):
        median_ratios({"base": [1.0], "x": [1.0, 2.0]}, "base")


def test_a_slower_call_measures_slower() -> None:
    times = interleaved_ms({"fast": lambda: None, "slow": lambda: time.sleep(0.002)}, rounds=5, warmup=0)
    assert median_ratios(times, "fast")["slow"] > 5
    with pytest.raises(ValueError, match="rounds"):
        interleaved_ms({"a": lambda: None}, rounds=0)
