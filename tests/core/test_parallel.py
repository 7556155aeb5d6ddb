"""forwardkit.parallel: results in call order, errors re-raised or recorded, same results in workers."""

from __future__ import annotations

import math

import pytest

from forwardkit.parallel import plan_workers, run_parallel


def square_or_fail(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative {x}")
    return x * x


def test_in_process_keeps_order_and_reports_each_result():
    seen = []
    assert run_parallel(square_or_fail, [(3,), (1,), (2,)], on_done=lambda i, r: seen.append((i, r))) == [9, 1, 4]
    assert seen == [(0, 9), (1, 1), (2, 4)]


def test_errors_are_raised_unless_recorded():
    with pytest.raises(ValueError, match="negative -1"):
        run_parallel(square_or_fail, [(2,), (-1,)])
    out = run_parallel(square_or_fail, [(2,), (-1,)], on_error=lambda i, exc: f"failed {i}: {exc}")
    assert out == [4, "failed 1: negative -1"]


def test_worker_processes_give_the_same_results_in_order():
    # spawned workers import the function by name, so it must live in an importable module
    calls = [(x,) for x in (5, -2, 4)]
    out = run_parallel(math.factorial, calls, workers=2, on_error=lambda i, exc: type(exc).__name__)
    assert out == [120, "ValueError", 24]


def test_plan_workers():
    assert plan_workers(1, None)[0] == 1 and plan_workers(3, 8)[0] == 3 and plan_workers(5, 1)[0] == 1
    workers, threads = plan_workers(10, 2)
    assert workers == 2 and threads >= 1
