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


def test_count_macs_does_not_count_the_first_calls_kernel_timing() -> None:
    """A projection big enough to be measured (forwardkit.nn.projections) counts its one GEMM, not the timing
    rounds its first call runs."""
    import torch

    from forwardkit.measure import count_macs
    from forwardkit.nn.projections import Pointwise

    layer = Pointwise(256, 512)
    x = torch.randn(4, 32, 32, 256)
    assert count_macs(lambda: layer(x)) == 4 * 32 * 32 * 256 * 512


def test_peak_memory_bytes_sees_a_temporary_and_not_the_inputs() -> None:
    import torch

    from forwardkit.measure import peak_memory_bytes

    x = torch.ones(256, 1024)  # 1 MiB held before the call: not counted
    def two_temporaries() -> None:
        y = x * 2.0  # +1 MiB
        z = y + 1.0  # +1 MiB, both alive: the peak
        del y, z
    peak = peak_memory_bytes(two_temporaries)
    assert 2 * x.nbytes <= peak < 3 * x.nbytes
    assert peak_memory_bytes(lambda: None) == 0


def test_save_report_writes_indented_json_and_creates_parents(tmp_path):
    import json

    from forwardkit.measure import save_report

    path = save_report({"ratio": 1.5, "rows": [1, 2]}, tmp_path / "reports" / "cost.json")
    assert json.loads(path.read_text()) == {"ratio": 1.5, "rows": [1, 2]}
    assert path.read_text().endswith("\n") and '\n  "ratio"' in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["cost.json"]  # no temporary file left beside it
