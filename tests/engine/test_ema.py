"""Evaluation events and the builtin EMA callback: averaged weights are what gets evaluated; exact resume."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import pytest
import torch
from torch import nn

from forwardkit.builtin.callbacks import EMA, ema_update_
from forwardkit.config import ComponentConfig
from forwardkit.engine import checkpoint as ckpt
from forwardkit.engine.trainer import Trainer
from forwardkit.interfaces import Callback
from forwardkit.registry import Registry

from .conftest import Interrupted, interrupted_after, mlp_experiment


def test_the_functional_form_is_the_ema_formula():
    avg, cur = nn.Linear(3, 2), nn.Linear(3, 2)
    before = {k: v.clone() for k, v in avg.state_dict().items()}
    ema_update_(avg, cur, 0.9)
    for key, value in avg.state_dict().items():
        assert torch.allclose(value, 0.9 * before[key] + 0.1 * cur.state_dict()[key])
    with pytest.raises(ValueError, match="shape"):
        ema_update_(nn.Linear(3, 2), nn.Linear(4, 2), 0.9)


def test_warmup_decay_grows_towards_the_configured_decay():
    ema = EMA(decay=0.99)
    decays = []
    for n in range(1000):
        ema.updates = n
        decays.append(ema.decay())
    assert decays[0] == pytest.approx(0.1) and decays[-1] == 0.99 and decays == sorted(decays)
    assert EMA(decay=0.99, warmup=False).decay() == 0.99


class RecordEvaluations(Callback):
    class Config(ComponentConfig):
        pass

    seen: list[tuple[str, str, tuple[str, ...]]] = []

    def on_evaluate_start(self, split, ctx):
        RecordEvaluations.seen.append(("start", split, ()))
        return None

    def on_evaluate_end(self, split: str, metrics: Mapping[str, float], ctx) -> None:
        RecordEvaluations.seen.append(("end", split, tuple(sorted(metrics))))


def test_evaluation_events_wrap_every_evaluation():
    registry = Registry.discover(entry_points=False)
    registry.register_class("callback", "record_evaluations", RecordEvaluations)
    RecordEvaluations.seen.clear()
    exp = mlp_experiment(epochs=2)
    exp["callbacks"] = ["record_evaluations"]
    Trainer(exp, write=False, registry=registry).fit()
    splits = [(event, split) for event, split, _ in RecordEvaluations.seen]
    assert splits == [("start", "val"), ("end", "val"), ("start", "val"), ("end", "val"), ("start", "test"),
                      ("end", "test")]
    assert "test/accuracy" in RecordEvaluations.seen[-1][2]


def _ema_experiment(**trainer):
    exp = mlp_experiment(**trainer)
    exp["callbacks"] = [{"name": "ema", "decay": 0.9}]
    return exp


def test_ema_weights_are_the_ones_evaluated_and_kept():
    exp = _ema_experiment(epochs=2)
    trainer = Trainer(exp, write=False)
    result = trainer.fit()
    ema = trainer.callbacks[0]
    assert isinstance(ema, EMA) and ema.updates == result.steps
    for key, value in result.model.state_dict().items():  # apply_at_end: the model holds the average
        assert torch.equal(value, ema.average.state_dict()[key]), key
    # evaluating the average again gives the reported test metrics
    assert trainer.evaluate("test", model=ema.average)["test/accuracy"] == result.final["test/accuracy"]
    raw = Trainer({**exp, "callbacks": [{"name": "ema", "decay": 0.9, "apply_at_end": False}]}, write=False)
    raw_result = raw.fit()
    assert not all(torch.equal(a, b) for a, b in zip(raw_result.model.state_dict().values(),
                                                      raw.callbacks[0].average.state_dict().values(), strict=True))
    assert raw_result.final["test/accuracy"] == result.final["test/accuracy"]  # evaluated on the average both times


def test_ema_resumes_exactly(tmp_path):
    exp = _ema_experiment(epochs=2, checkpoint_every_steps=7)

    full_trainer = Trainer(exp, run_dir=tmp_path / "full")
    full = full_trainer.fit()
    with pytest.raises(Interrupted):
        interrupted_after(14)(exp, run_dir=tmp_path / "cut").fit()
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "cut" / "checkpoints")).state
    assert state["callbacks"][0]["state"]["updates"] == 14
    resumed_trainer = Trainer(exp, run_dir=tmp_path / "cut", resume=True)
    resumed = resumed_trainer.fit()
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    a, b = full_trainer.callbacks[0].state_dict(), resumed_trainer.callbacks[0].state_dict()
    assert a["updates"] == b["updates"] and all(torch.equal(a["average"][k], b["average"][k]) for k in a["average"])
    assert resumed.final["test/accuracy"] == full.final["test/accuracy"]


def test_a_grown_model_restarts_the_average():
    ema = EMA(decay=0.5)

    class Ctx:
        model = nn.Linear(2, 2)
        step = 1

    ctx = Ctx()
    ema.on_fit_start(ctx)
    ema.on_step_end({}, ctx)
    ctx.model = nn.Linear(2, 3)
    ema.on_epoch_end(ctx)
    assert ema.updates == 0 and ema.average.weight.shape == (3, 2)
    assert copy.deepcopy(ema.state_dict())["updates"] == 0


def test_keep_best_restores_the_best_validation_weights():
    exp = mlp_experiment(epochs=6)
    exp["learning_rule"] = {"name": "backprop", "lr": 0.2}  # noisy enough that the last epoch is not the best
    exp["callbacks"] = [{"name": "keep_best", "monitor": "val/loss"}]
    trainer = Trainer(exp, write=False)
    result = trainer.fit()
    keep = trainer.callbacks[0]
    assert keep.best is not None and keep.weights is not None
    assert all(torch.equal(v, result.model.state_dict()[k]) for k, v in keep.weights.items())
    assert trainer.evaluate("val", model=result.model)["val/loss"] == pytest.approx(keep.best)
    with pytest.raises(Exception, match="not an evaluation metric"):
        Trainer({**exp, "callbacks": [{"name": "keep_best", "monitor": "val/nope"}]}, write=False).fit()
