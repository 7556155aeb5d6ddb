"""The curriculum callback (card "Tests this plugin must have"): the table's values at the stage boundaries, the
0.653 relative compute of the default schedule, a mid-stage state round trip, EfficientTrain++'s step counts and
compute-tied learning rate, scale_batch, evaluation at the current B, and errors."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from forwardkit_efficienttrain.config import Stage, v1_stages
from forwardkit_efficienttrain.crop import CroppedInput
from forwardkit_efficienttrain.curriculum import EfficientTrainCurriculum
from forwardkit_efficienttrain.schedule import relative_compute, stage_epochs

import forwardkit
from forwardkit.errors import ConfigError
from forwardkit.interfaces import RunContext

V1 = [(20, 1), (20, 3), (20, 5), (24, 7), (28, 9)]


def _ctx(epoch: int, step: int, *, epochs: int = 10, spe: int = 2, rule=None) -> RunContext:
    ctx = RunContext(model=torch.nn.Identity(), epoch=epoch, step=step, epochs=epochs, steps_per_epoch=spe,
                     total_steps=epochs * spe)
    if rule is not None:
        ctx.extra["learning_rule"] = rule
    return ctx


def _batch(size: int = 28, n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(n, size, size, 1, generator=g), "y": torch.zeros(n, dtype=torch.long)}


def _drive(cb: EfficientTrainCurriculum, epochs: range, *, spe: int = 2, size: int = 28, n: int = 4) -> list:
    seen = []
    for e in epochs:
        for i in range(spe):
            ctx = _ctx(e, e * spe + i, spe=spe)
            if i == 0:
                cb.on_epoch_start(ctx)
            out = cb.on_batch_start(_batch(size, n, seed=e * spe + i), ctx)
            cb.on_step_end({"loss": 0.0}, ctx)
            seen.append((e, out["x"].shape[1], ctx.extra["step_metrics"]))
    return seen


@pytest.mark.parametrize("size, expected", [(28, V1), (224, [(160, 1), (160, 3), (160, 5), (192, 7), (224, 9)])])
def test_the_hook_reports_the_table_at_the_stage_boundaries(size, expected):
    cb = EfficientTrainCurriculum(seed=0, augment=None if size == 224 else {})
    seen = _drive(cb, range(10), size=size, n=1)
    for epoch, side, reported in seen:
        b, m = expected[epoch // 2]
        assert side == b and reported["efficienttrain/bandwidth"] == b
        assert reported["efficienttrain/aug_magnitude"] == m and reported["efficienttrain/stage"] == epoch // 2 + 1
    assert [(e["bandwidth"][0], e["aug_magnitude"]) for e in cb.log] == expected
    assert [e["step"] for e in cb.log] == [0, 4, 8, 12, 16]


def test_the_default_schedule_costs_0653_of_the_full_resolution_run():
    for size in ((224, 224), (28, 28)):
        assert relative_compute(v1_stages(), size) == pytest.approx(0.653, abs=1e-3)
    cb = EfficientTrainCurriculum(seed=0, augment=None)
    _drive(cb, range(10))
    assert cb.ledger.relative_flops() == pytest.approx((3 * 400 + 576 + 784) / (5 * 784), abs=1e-12)
    assert cb.ledger.relative_flops() == pytest.approx(0.653, abs=1e-3)
    assert cb.ledger.samples == 80 and cb.ledger.full_res_equivalent_samples() == pytest.approx(80 * 0.653061, 1e-5)
    # a wrong table would show: one stage less at 20 x 20
    other = EfficientTrainCurriculum(seed=0, augment=None, stages=[
        {"frac": 0.4, "bandwidth_ratio": 5 / 7, "aug_magnitude": 1}, {"frac": 0.6, "bandwidth_ratio": 1.0,
                                                                       "aug_magnitude": 9}])
    _drive(other, range(10))
    assert other.ledger.relative_flops() == pytest.approx(0.4 * 400 / 784 + 0.6, abs=1e-12)


def test_state_round_trips_in_the_middle_of_a_stage():
    a = EfficientTrainCurriculum(seed=3)
    _drive(a, range(3))  # epochs 0-2: stage 2 began at epoch 2
    ctx = _ctx(3, 6)
    a.on_batch_start(_batch(seed=6), ctx)
    a.on_step_end({}, ctx)  # the middle of stage 2 (epoch 3 of 10)
    b = EfficientTrainCurriculum(seed=99)
    b.load_state_dict(a.state_dict())
    assert b.stage == 1 and b.bandwidth == (20, 20) and b.ledger.samples == a.ledger.samples
    for cb in (a, b):  # the next step: same augmentation draws, same crop
        cb.out = cb.on_batch_start(_batch(seed=7), _ctx(3, 7))["x"]
        cb.on_step_end({}, _ctx(3, 7))
    assert torch.equal(a.out, b.out)
    sa, sb = a.state_dict(), b.state_dict()
    assert torch.equal(sa.pop("augment")["generator"], sb.pop("augment")["generator"]) and sa == sb


PP_RESNET50 = [96] * 2 + [160] * 4 + [224] * 4  # EfficientTrain++ (_ET_pp_main_res50.py)


def test_equal_compute_stages_scale_their_epochs_with_the_pixel_ratio():
    stages = [Stage(frac=0.1, bandwidth_ratio=b / 224, aug_magnitude=k) for k, b in enumerate(PP_RESNET50)]
    epochs = stage_epochs(stages, 450.0, (224, 224), equal_compute=True)
    costs = [e * (b / 224) ** 2 for e, b in zip(epochs, PP_RESNET50, strict=True)]
    assert sum(epochs) == pytest.approx(450.0)
    assert max(costs) - min(costs) < 1e-9  # every stage costs 1/10 of the compute
    assert epochs[0] / epochs[-1] == pytest.approx((224 / 96) ** 2)
    assert stage_epochs(v1_stages(), 300.0, (224, 224)) == pytest.approx([60.0] * 5)  # v1: equal epochs


def test_equal_compute_mode_ties_the_learning_rate_to_consumed_compute():
    stages = [{"frac": 0.5, "bandwidth_ratio": 0.5, "aug_magnitude": 0}, {"frac": 0.5, "bandwidth_ratio": 1.0,
                                                                          "aug_magnitude": 0}]
    exp = {"data": {"name": "blobs", "image_size": 8, "n_samples": 150, "clusters_per_class": 2},
           "model": {"name": "efficienttrain_cnn", "widths": [4], "strides": [2]},
           "learning_rule": {"name": "backprop", "lr": 0.01, "schedule": "cosine"},
           "callbacks": [{"name": "efficienttrain_curriculum", "stages": stages, "equal_compute_stages": True,
                          "granularity": "step", "augment": None}],
           "trainer": {"max_steps": 20, "batch_size": 16, "log_every": 1, "progress": "none", "plots": False,
                       "test_at_end": False, "eval_every": 0}}
    trainer = forwardkit.Trainer(exp, write=False, verbose=False)
    trainer.fit()
    ledger = trainer.callbacks[0].ledger
    steps = {k: e["steps"] for k, e in ledger.entries.items()}
    assert steps == {"4x4": 16, "8x8": 4}  # (H/B)^2 = 4 times the steps of the full-resolution stage
    lrs = [r["train/lr"] for r in trainer.metrics.records if "train/lr" in r]
    consumed, expected = 0.0, []
    budget = 16 * 0.25 + 4 * 1.0
    for t in range(20):
        position = round(consumed / budget * 20)
        expected.append(0.01 * 0.5 * (1 + math.cos(math.pi * position / 20)))
        consumed += 0.25 if t < 16 else 1.0
    assert lrs == pytest.approx(expected, rel=1e-9)
    assert ledger.step_compute == pytest.approx(budget)


def test_scale_batch_sets_the_rules_micro_batches_from_the_pixel_ratio():
    rule = SimpleNamespace(config=SimpleNamespace(accumulate=2), updates=0)
    cb = EfficientTrainCurriculum(scale_batch=True, augment=None)
    cb.on_fit_start(_ctx(0, 0, rule=rule))
    cb.on_batch_start(_batch(), _ctx(0, 0, rule=rule))
    assert rule.config.accumulate == 1  # 2 x (20/28)^2 = 1.02
    cb.on_batch_start(_batch(), _ctx(9, 18, rule=rule))
    assert rule.config.accumulate == 2 and cb.state_dict()["base_accumulate"] == 2


def test_evaluations_during_training_see_the_current_bandwidth_and_the_final_test_does_not():
    cb = EfficientTrainCurriculum(augment=None)
    model = forwardkit.build_model({"name": "efficienttrain_cnn", "widths": [4], "strides": [2]})
    ctx = RunContext(model=model, epochs=10, steps_per_epoch=2, total_steps=20)
    cb.on_fit_start(ctx)
    cb.on_batch_start(_batch(), ctx)
    cb.on_step_end({}, ctx)
    wrapped = cb.on_evaluate_start("val", ctx)
    assert isinstance(wrapped, CroppedInput) and wrapped.model is model
    assert wrapped.crop(torch.rand(2, 28, 28, 1)).shape == (2, 20, 20, 1)
    assert EfficientTrainCurriculum(augment=None, eval_at_current_B=False).on_evaluate_start("val", ctx) is None
    cb.on_fit_end(ctx)
    assert cb.on_evaluate_start("test", ctx) is None
    assert ctx.extra["efficienttrain"]["relative_flops"] == pytest.approx(400 / 784)


def test_bad_configs_and_inputs_are_clear_errors():
    with pytest.raises(ConfigError, match="sum to 1"):
        forwardkit.create("callback", "efficienttrain_curriculum",
                          stages=[{"frac": 0.5, "bandwidth_ratio": 0.5, "aug_magnitude": 1}])
    with pytest.raises(ConfigError, match="bandwidth_ratio"):
        forwardkit.create("callback", "efficienttrain_curriculum",
                          stages=[{"frac": 1.0, "bandwidth_ratio": 1.5, "aug_magnitude": 1}])
    cb = EfficientTrainCurriculum(equal_compute_stages=True)
    with pytest.raises(ConfigError, match="tie_lr_to_compute"):
        cb.on_fit_start(_ctx(0, 0, rule=SimpleNamespace(config=SimpleNamespace())))
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        EfficientTrainCurriculum().on_batch_start({"x": torch.zeros(4, 16)}, _ctx(0, 0))
