"""The compute ledger (computed from what ran, never assumed) and the reference CNN (any resolution, MACs ~ (B/H)^2)."""

from __future__ import annotations

import pytest
import torch
from forwardkit_efficienttrain.curriculum import EfficientTrainCurriculum
from forwardkit_efficienttrain.ledger import ComputeLedger

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.measure import count_macs, count_parameters


def _cnn(**kw):
    return forwardkit.build_model({"name": "efficienttrain_cnn", **kw})


def _trained_ledger(model: torch.nn.Module) -> EfficientTrainCurriculum:
    cb = EfficientTrainCurriculum(augment=None)
    for epoch in range(10):
        ctx = RunContext(model=model, epoch=epoch, step=epoch, epochs=10, steps_per_epoch=1, total_steps=10)
        if epoch == 0:
            cb.on_fit_start(ctx)
        cb.on_batch_start({"x": torch.rand(8, 28, 28, 1)}, ctx)
        cb.on_step_end({}, ctx)
    return cb


def test_the_analyzer_reads_the_runs_ledger_and_measures_the_macs():
    model = _cnn(widths=[8, 8, 16, 16, 16])
    cb = _trained_ledger(model)
    data = [{"x": torch.rand(4, 28, 28, 1), "y": torch.zeros(4, dtype=torch.long)}]
    numbers = forwardkit.create("analyzer", "compute_ledger").analyze(model, data).numbers
    assert numbers["from_run"] == 1.0 and numbers["samples"] == 80 and numbers["steps"] == 10
    assert numbers["relative_flops"] == pytest.approx(cb.ledger.relative_flops()) == pytest.approx(0.653, abs=1e-3)
    assert numbers["flops_speedup"] == pytest.approx(1 / 0.653061, rel=1e-5)
    # the CNN's real MACs follow (B/H)^2 closely (strides round 20 -> 10 -> 5 -> 3 against 28 -> 14 -> 7 -> 4)
    assert abs(numbers["relative_macs"] - numbers["relative_flops"]) < 0.02
    assert numbers["wallclock_speedup_estimate"] > 0


def test_without_a_run_the_analyzer_accounts_for_its_schedule():
    numbers = forwardkit.create("analyzer", "compute_ledger").analyze(_cnn(), None).numbers
    assert numbers["from_run"] == 0.0 and numbers["relative_flops"] == pytest.approx(0.653061, abs=1e-6)
    assert numbers["image_side"] == 28 and "wallclock_speedup_estimate" not in numbers
    plain = forwardkit.create("analyzer", "compute_ledger",
                              stages=[{"frac": 1.0, "bandwidth_ratio": 1.0, "aug_magnitude": 9}])
    assert plain.analyze(_cnn(), None).numbers["relative_flops"] == 1.0


def test_the_ledger_state_keeps_counts_not_wall_time():
    ledger = ComputeLedger()
    ledger.size = (28, 28)
    ledger.record((20, 20), 128, seconds=0.1)
    ledger.record((28, 28), 32, seconds=0.2)
    again = ComputeLedger()
    again.load_state_dict(ledger.state_dict())
    assert again.entries == ledger.entries and again.seconds == {}
    assert again.relative_flops() == pytest.approx((128 * 400 / 784 + 32) / 160)
    assert again.step_compute == pytest.approx(400 / 784 + 1)


def test_the_reference_cnn_takes_any_resolution():
    model = _cnn()
    assert count_parameters(model) == 140_458  # 5 convs 32-32-64-64-128 (no bias), 5 BNs, Linear(128, 10)
    model.eval()
    macs = {}
    for side in (20, 24, 28):
        x = torch.rand(2, side, side, 1)
        assert model(x).shape == (2, 10)
        macs[side] = count_macs(lambda x=x: model(x[:1]))
    assert macs[20] / macs[28] == pytest.approx((20 / 28) ** 2, abs=0.02)
    # 24 -> 12 -> 6 -> 3: the last conv runs on 3 x 3 rather than (24/28)^2 x 4 x 4 = 11.8 cells, so a little less
    assert macs[24] / macs[28] == pytest.approx((24 / 28) ** 2, abs=0.03)
    with pytest.raises(ValueError, match="channels-last"):
        model(torch.rand(2, 1, 28, 28))
