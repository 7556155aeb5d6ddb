"""The suite's per-plugin clock (root conftest.py): the budget follows the machine's measured speed, within
bounds, and the calibration measures something."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clock():
    spec = importlib.util.spec_from_file_location("forwardkit_suite_clock", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_speed_factor_is_the_median_ratio_between_one_and_the_cap(clock):
    ref = clock.REFERENCE_CALIBRATION_MS
    assert clock.speed_factor([]) == 1.0
    assert clock.speed_factor([ref / 2] * 4) == 1.0  # a faster machine keeps the budget
    assert clock.speed_factor([ref, 2 * ref, 2 * ref, 9 * ref]) == pytest.approx(2.0)
    assert clock.speed_factor([100 * ref]) == clock.MAX_SPEED_FACTOR


def test_the_calibration_takes_measurable_time(clock):
    assert 0.0 < clock.calibration_ms() < 60_000.0


def test_owners_charge_kit_tests_and_smoke_runs_to_their_plugin(clock):
    owner = clock.SuiteClock.owner
    fake = clock.SuiteClock.__new__(clock.SuiteClock)
    assert owner(fake, "plugins/nasnet/tests/test_conformance.py::test_conformance[model/x:check_export]") == \
        ("nasnet", "kit")
    assert owner(fake, "plugins/nasnet/tests/test_cells.py::test_one") == ("nasnet", "tests")
    assert owner(fake, "tests/reproduce/test_installed_smoke.py::test_smoke_reproduction[nasnet]") == \
        ("nasnet", "smoke")
