"""The components in use: the rule through the trainer (full-batch steps, the deep variant's frozen backbone), the
truncation compressor's choice and report, and the example experiments on a tiny budget."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from forwardkit_gradient_boosting_nn.model import BoostedMLP
from forwardkit_gradient_boosting_nn.rule import GradientBoostedHead, boost
from forwardkit_gradient_boosting_nn.truncation import StageTruncation, stage_grid, truncation_curve

import forwardkit
from forwardkit.config import validate_experiment
from forwardkit.config.files import load_yaml
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BLOBS = {"name": "blobs", "n_samples": 150, "clusters_per_class": 2, "num_classes": 3, "n_features": 6}


def _experiment(**rule: object) -> dict:
    return {"name": "gbnn-blobs", "seed": 4, "data": BLOBS,
            "model": {"name": "boosted_mlp", "stages": 5, "units_per_stage": 2},
            "learning_rule": {"name": "gradient_boosted_head", "stage_max_iter": 6, **rule},
            "trainer": {"batch_size": 1024, "shuffle": False, "epochs": 10, "progress": "none", "plots": False,
                        "checkpoint_every": 0, "eval_every": 0}}


def test_one_full_batch_trainer_step_per_stage_is_the_functional_loop() -> None:
    trainer = Trainer(_experiment(eta=0.5), write=False, verbose=False)
    trainer.build()
    start = copy.deepcopy(trainer.model)
    result = trainer.fit()
    assert result.steps == 5 and "all 5 stages" in (result.stop_reason or "")  # the rule stops after stage T
    assert int(trainer.model.fitted) == 5 and result.final["test/accuracy"] > 0.6
    # the same loop by hand on the same initial model and the same (whole, unshuffled) training split
    train = trainer.dataset.split("train")
    rule = GradientBoostedHead(eta=0.5, stage_max_iter=6, seed=4)
    ctx = RunContext(model=start)
    rule.setup(start, ctx)
    for _ in range(5):
        rule.step({"x": train.x, "y": train.y}, ctx)
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, start.state_dict()[name]), name
    # the merged network the trainer evaluated equals the staged ensemble the rule kept
    with torch.no_grad():
        assert (trainer.model(train.x) - trainer.rule.ensemble()(train.x)).abs().max() < 1e-5


def test_a_frozen_backbone_feeds_the_boosted_head() -> None:
    backbone = {"name": "mlp", "in_features": 6, "hidden": [8], "num_classes": 5}
    model = BoostedMLP(in_features=6, num_classes=3, stages=3, units_per_stage=2, backbone=backbone)
    assert model.hidden.in_features == 5  # measured on the backbone's example batch
    before = copy.deepcopy(model.backbone.state_dict())  # type: ignore[union-attr]
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g)
    rule = GradientBoostedHead(stage_max_iter=4, seed=0)
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    model.train()
    for _ in range(3):
        rule.step({"x": x, "y": y}, ctx)
    after = model.backbone.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(v, after[k]) for k, v in before.items()) and int(model.fitted) == 3
    with torch.no_grad():
        feats = model.features(x)
        assert (model(x) - rule.ensemble()(feats)).abs().max() < 1e-5


def _boosted() -> tuple[BoostedMLP, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(90, 4, generator=g)
    y = (x[:, 0] + x[:, 1] ** 2 > 1).long() + (x[:, 2] > 0.5).long()
    model, _ = boost(x, y, stages=8, units_per_stage=1, num_classes=3, eta=1.0, stage_max_iter=15)
    return model, x, y


def test_truncation_keeps_the_fewest_stages_within_tol() -> None:
    model, x, y = _boosted()
    curve = truncation_curve(model, x, y)
    small, report = StageTruncation(tol=0.05, repeats=1).compress(model, [{"x": x, "y": y}])
    keep = report.details["stages_after"]
    full = curve[-1]["accuracy"]
    assert curve[keep - 1]["accuracy"] >= full - 0.05 and all(r["accuracy"] < full - 0.05 for r in curve[: keep - 1])
    assert isinstance(small, BoostedMLP) and small.hidden.out_features == keep < 8
    with torch.no_grad():
        assert (small(x) - model(x, n_stages=keep)).abs().max() < 1e-5
    assert report.after.parameters < report.before.parameters and report.after.macs < report.before.macs
    assert report.after.accuracy == pytest.approx(curve[keep - 1]["accuracy"])
    assert report.details["curve"] == curve and report.ratios()["parameters"] < 1
    # tol 0 with the whole grid: the first count that matches the full model (possibly all of them)
    _, strict = StageTruncation(tol=0.0, repeats=1).compress(model, [{"x": x, "y": y}])
    assert strict.details["stages_after"] == next(r["stages"] for r in curve if r["accuracy"] >= full)


def test_truncation_to_a_fixed_budget_regression_and_the_grid() -> None:
    model, x, _ = _boosted()
    small, report = StageTruncation(stages=3, repeats=1).compress(model)  # no data: a fixed budget
    assert small.num_stages == 3 and report.before.accuracy is None
    with pytest.raises(ForwardkitError, match="calibration data"):
        StageTruncation().compress(model)
    with pytest.raises(ForwardkitError, match="boosted_mlp"):
        StageTruncation().compress(torch.nn.Linear(2, 2))
    assert stage_grid(8, "powers_of_two") == [1, 2, 4, 8] and stage_grid(6, "powers_of_two") == [1, 2, 4, 6]
    target = (x[:, :1] - x[:, 1:2]).float()
    reg, _ = boost(x, target, stages=6, units_per_stage=1, eta=1.0, stage_max_iter=15)
    _, rep = StageTruncation(tol=0.5, grid="powers_of_two", repeats=1).compress(reg, [{"x": x, "y": target}])
    assert rep.details["metric"] == "mse" and [r["stages"] for r in rep.details["curve"]] == [1, 2, 4, 6]
    mse = {r["stages"]: r["mse"] for r in rep.details["curve"]}
    assert mse[rep.details["stages_after"]] <= 1.5 * mse[6] + 1e-9


def test_the_examples_validate_and_run_on_a_tiny_budget(tmp_path: Path) -> None:
    single = load_yaml((EXAMPLES / "gradient-boosting-nn-digits.yaml").read_text())
    assert validate_experiment(single).model.config.stages == 100
    single["model"]["stages"] = 3
    single["learning_rule"]["stage_max_iter"] = 3
    single["trainer"].update(max_steps=3, epochs=3, eval_every=0, checkpoint_every=0, progress="none", plots=False)
    result = forwardkit.run(single, run_dir=tmp_path / "single")
    assert result.steps == 3 and "compression/stage_truncation/after/parameters" in result.final
    deep = load_yaml((EXAMPLES / "gradient-boosting-nn-deep-digits.yaml").read_text())
    deep["base"]["model"]["stages"] = 3
    deep["base"]["trainer"].update(epochs=1, max_steps=2, progress="none", plots=False)
    deep["stages"][1]["learning_rule"]["stage_max_iter"] = 3
    deep["stages"][1]["trainer"].update(max_steps=3, epochs=3, eval_every=0)
    deep_result = forwardkit.run(deep, run_dir=tmp_path / "deep")
    assert deep_result.final["boost/steps"] == 3 and deep_result.final["joint/steps"] == 2
