"""Trainer behaviour: schedules, optimizers, accumulation, callbacks' events and order, outputs."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any, ClassVar

import pytest
import torch

import forwardkit as fk
from forwardkit.builtin.backprop import Backprop, lr_factor
from forwardkit.builtin.training_config import BackpropConfig
from forwardkit.config import ComponentConfig
from forwardkit.engine.data import epoch_batches
from forwardkit.engine.trainer import Trainer
from forwardkit.hookspecs import hookimpl
from forwardkit.interfaces import Callback
from forwardkit.registry import Registry

from .conftest import mlp_experiment


def test_lr_schedules():
    cfg = BackpropConfig(lr=1.0, warmup_steps=10, schedule="cosine", min_lr=0.1)
    f = [lr_factor(s, cfg=cfg, steps_per_epoch=10, total_steps=110) for s in range(111)]
    assert f[0] == pytest.approx(0.01) and f[5] == pytest.approx(0.01 + 0.99 * 0.5)
    assert f[10] == pytest.approx(1.0) and f[110] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(f[10:]))
    step = BackpropConfig(lr=1.0, schedule="step", step_epochs=2, gamma=0.5)
    assert [lr_factor(s, cfg=step, steps_per_epoch=5, total_steps=50) for s in (0, 9, 10, 20)] == [1, 1, 0.5, 0.25]
    const = BackpropConfig(lr=1.0, warmup_epochs=1.0)
    assert lr_factor(4, cfg=const, steps_per_epoch=10, total_steps=50) < 1 == lr_factor(10, cfg=const,
                                                                                        steps_per_epoch=10,
                                                                                        total_steps=50)


@pytest.mark.parametrize("opt", ["sgd", "adam", "adamw"])
def test_each_optimizer_learns(opt):
    exp = mlp_experiment(epochs=3)
    exp["learning_rule"] = {"name": "backprop", "optimizer": opt, "lr": 0.05 if opt == "sgd" else 0.01,
                            "nesterov": opt == "sgd", "weight_decay": 1e-4}
    result = Trainer(exp, write=False).fit()
    assert result.final["test/accuracy"] > 0.6  # 4 classes: chance is 0.25


def test_gradient_accumulation_equals_one_big_batch():
    exp = mlp_experiment(epochs=1)
    exp["model"]["dropout"] = 0.0
    exp["learning_rule"] = {"name": "backprop", "optimizer": "sgd", "lr": 0.1, "momentum": 0.0}
    plain = Trainer(exp, write=False).fit().model.state_dict()
    exp["learning_rule"]["accumulate"] = 4
    accumulated = Trainer(exp, write=False).fit().model.state_dict()
    for key in plain:
        assert torch.allclose(plain[key], accumulated[key], atol=1e-6), key


def test_weight_decay_skips_1d_parameters_by_default():
    model = fk.build_model({"name": "mlp", "in_features": 4, "hidden": [8], "num_classes": 2})
    rule = Backprop(weight_decay=0.1)
    rule.setup(model, fk.RunContext(model=model))
    decays = {tuple(p.shape): g["weight_decay"] for g in rule.optimizer.param_groups for p in g["params"]}
    assert decays[(8, 4)] == 0.1 and decays[(8,)] == 0.0


def test_data_order_depends_only_on_seed_and_epoch_and_shards_exactly():
    a = epoch_batches(103, batch_size=10, seed=1, epoch=2)
    assert a == epoch_batches(103, batch_size=10, seed=1, epoch=2)
    assert a != epoch_batches(103, batch_size=10, seed=1, epoch=3)
    shards = [epoch_batches(103, batch_size=10, seed=1, epoch=2, rank=r, world_size=2) for r in (0, 1)]
    for i, batch in enumerate(a):
        assert sorted(shards[0][i] + shards[1][i]) == sorted(batch)
    assert sorted(i for b in a for i in b) == list(range(103))


class EventLogConfig(ComponentConfig):
    tag: str = "x"


class EventLog(Callback):
    """Records the events it sees; doubles inputs at batch start; freezes the first layer at epoch 1's end."""

    Config = EventLogConfig
    seen: ClassVar[list[tuple[str, Any]]] = []

    def on_fit_start(self, ctx):
        self.seen.append((self.config.tag, "fit_start"))

    def on_epoch_start(self, ctx):
        self.seen.append((self.config.tag, f"epoch_start:{ctx.epoch}"))

    def on_batch_start(self, batch, ctx):
        if ctx.step == 0:
            self.seen.append((self.config.tag, "batch_start"))
        return {**batch, "x": batch["x"] * 0.0}  # all inputs zero: the model can only learn the prior

    def on_after_backward(self, ctx):
        if ctx.step == 0:
            grads = [p.grad is not None for p in ctx.model.parameters()]
            self.seen.append((self.config.tag, f"after_backward:{all(grads)}"))

    def on_epoch_end(self, ctx):
        self.seen.append((self.config.tag, f"epoch_end:{ctx.epoch}"))
        if ctx.epoch == 0 and self.config.tag == "late":
            first = next(iter(ctx.model.parameters()))
            first.requires_grad_(False)
            return True
        return False

    def on_fit_end(self, ctx):
        self.seen.append((self.config.tag, "fit_end"))


class EarlyEventLog(EventLog):
    priority = -5


def _registry_with_event_logs() -> Registry:
    import types

    reg = Registry.discover()
    mod = types.ModuleType("eventlog_plugin")

    @hookimpl
    def forwardkit_register(registry):
        registry.add("callback", "event_log", target=f"{__name__}:EventLog", config=f"{__name__}:EventLogConfig")
        registry.add("callback", "early_event_log", target=f"{__name__}:EarlyEventLog",
                     config=f"{__name__}:EventLogConfig")

    mod.forwardkit_register = forwardkit_register
    reg.load_plugin("eventlog", lambda: mod)
    return reg


def test_callback_events_order_batch_transform_and_model_change():
    EventLog.seen.clear()
    reg = _registry_with_event_logs()
    exp = mlp_experiment(epochs=2)
    exp["callbacks"] = [{"name": "event_log", "tag": "late"}, {"name": "early_event_log", "tag": "early"}]
    trainer = Trainer(exp, write=False, registry=reg)
    result = trainer.fit()
    tags_at_start = [tag for tag, event in EventLog.seen if event == "fit_start"]
    assert tags_at_start == ["early", "late"]  # priority, not list order
    events = [event for tag, event in EventLog.seen if tag == "late"]
    assert events[:4] == ["fit_start", "epoch_start:0", "batch_start", "after_backward:True"]
    assert events[-1] == "fit_end" and "epoch_end:1" in events
    # inputs were zeroed by the batch transform: accuracy collapses to the class prior
    assert result.final["test/accuracy"] < 0.4
    # the frozen parameter left the rebuilt optimizer
    frozen = next(iter(result.model.parameters()))
    params = [p for g in trainer.rule.optimizer.param_groups for p in g["params"]]
    assert all(p is not frozen for p in params)


def test_nan_guard_stops_before_the_update_and_keeps_the_last_good_checkpoint(tmp_path):
    exp = mlp_experiment(epochs=5, checkpoint_every_steps=2)
    exp["learning_rule"] = {"name": "backprop", "optimizer": "sgd", "lr": 1e12, "momentum": 0.0}
    exp["callbacks"] = ["nan_guard"]
    result = Trainer(exp, run_dir=tmp_path).fit()
    assert result.stop_reason and result.stop_reason.startswith("NaN guard")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stop_reason"].startswith("NaN guard")
    from .conftest import final_weights

    assert all(torch.isfinite(v).all() for v in final_weights(tmp_path).values())


def test_early_stopping_stops():
    exp = mlp_experiment(epochs=30)
    exp["learning_rule"] = {"name": "backprop", "lr": 1e-9}  # nothing improves
    exp["callbacks"] = [{"name": "early_stopping", "patience": 2, "min_delta": 0.01}]
    result = Trainer(exp, write=False).fit()
    assert "early stopping" in result.stop_reason
    per_epoch = math.ceil(420 / 32)
    assert result.steps == 3 * per_epoch


def test_run_directory_outputs(tmp_path, capsys):
    exp = mlp_experiment(epochs=2)
    exp["trainer"]["progress"] = "log"
    Trainer(exp, run_dir=tmp_path).fit()
    for name in ("experiment.json", "metrics.jsonl", "metrics.csv", "summary.json", "curves.png"):
        assert (tmp_path / name).is_file(), name
    out = capsys.readouterr().out
    assert "samples/s" in out and "eta" in out  # plain progress lines when not a terminal
    assert "test/accuracy" in out  # the summary table
    saved = json.loads((tmp_path / "experiment.json").read_text())
    assert saved["model"]["in_features"] == 16  # filled from the dataset's metadata
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert "train/loss" in header and "val/accuracy" in header


def test_explicit_model_fields_win_over_metadata():
    exp = mlp_experiment(epochs=1)
    exp["model"]["num_classes"] = 7
    trainer = Trainer(exp, write=False)
    trainer.build()
    assert trainer.model.net[-1].out_features == 7


def test_tensorboard_writes_event_files(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard is an optional extra")
    Trainer(mlp_experiment(epochs=1, tensorboard=True), run_dir=tmp_path).fit()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_unknown_device_is_a_clear_error():
    exp = mlp_experiment()
    exp["trainer"]["device"] = "cuda:3"
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(fk.ForwardkitError, match="CUDA is not available"):
        Trainer(exp, write=False)


def test_regression_and_forecasting_tasks_train():
    exp = {"data": {"name": "sequence", "task": "marked_sum"}, "model": {"name": "mlp", "hidden": [64]},
           "trainer": {"epochs": 2, "progress": "none"}}
    result = Trainer(exp, write=False).fit()
    assert "test/mse" in result.final and "test/mae" in result.final


def test_bf16_autocast_trains_on_cpu():
    exp = mlp_experiment(epochs=2)
    exp["learning_rule"] = {"name": "backprop", "lr": 0.01, "autocast": "bf16"}
    result = Trainer(exp, write=False).fit()
    assert math.isfinite(result.final["test/loss"]) and result.final["test/accuracy"] > 0.5


def test_progress_bar_mode_renders_a_rich_bar(capsys):
    exp = mlp_experiment(epochs=1)
    exp["trainer"]["progress"] = "bar"
    Trainer(exp, write=False).fit()
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "samples/s" in out and "━" in out


def test_max_steps_overrides_epochs_and_checkpoints_mid_epoch(tmp_path):
    exp = mlp_experiment(epochs=1, max_steps=20)  # 14 steps per epoch: the budget runs into a second epoch
    result = Trainer(exp, run_dir=tmp_path).fit()
    assert result.steps == 20
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "step-00000020"


def test_fp16_autocast_uses_a_grad_scaler_and_resumes(tmp_path):
    exp = mlp_experiment(epochs=2, checkpoint_every_steps=4)
    exp["learning_rule"] = {"name": "backprop", "lr": 0.01, "autocast": "fp16"}
    trainer = Trainer(exp, run_dir=tmp_path)
    result = trainer.fit()
    assert trainer.rule.scaler.is_enabled() and "scaler" in trainer.rule.state_dict()
    assert math.isfinite(result.final["test/loss"])


def test_early_stopping_counts_evaluations_not_epochs():
    exp = mlp_experiment(epochs=12, eval_every=4)
    exp["learning_rule"] = {"name": "backprop", "lr": 1e-9}
    exp["callbacks"] = [{"name": "early_stopping", "patience": 2, "min_delta": 0.01}]
    result = Trainer(exp, write=False).fit()
    # evaluations at epochs 4, 8, 12: the first sets the best, two more without improvement stop the run
    assert result.steps == 12 * math.ceil(420 / 32) and "early stopping" in result.stop_reason


def test_early_stop_without_periodic_checkpoints_still_writes_the_final_one(tmp_path):
    exp = mlp_experiment(epochs=30, checkpoint_every=0)
    exp["learning_rule"] = {"name": "backprop", "lr": 1e-9}
    exp["callbacks"] = [{"name": "early_stopping", "patience": 1, "min_delta": 0.01}]
    result = Trainer(exp, run_dir=tmp_path).fit()
    assert "early stopping" in result.stop_reason
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == f"step-{result.steps:08d}"


def test_eval_train_at_end_adds_the_train_split_metrics():
    exp = mlp_experiment(epochs=1, eval_train_at_end=True)
    exp["model"]["dropout"] = 0.0
    result = Trainer(exp, write=False).fit()
    trainer = Trainer(exp, write=False)
    trainer.build()
    again = trainer.evaluate("train", model=result.model)
    assert result.final["train_eval/accuracy"] == pytest.approx(again["train/accuracy"])
    assert result.final["train_eval/loss"] == pytest.approx(again["train/loss"])
    assert not any(k.startswith("train_eval/") for k in Trainer(mlp_experiment(epochs=1), write=False).fit().final)
