"""The growth rule of Sec. 3.1 (mocked scores), the cooldown, capacity, the channel step, and the optimizer
after an expansion with the builtin backprop."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from forwardkit_self_expanding_cnn.expansion import SelfExpansion, channel_step_at, decide

from forwardkit import Trainer

SMALL = {"name": "expandable_cnn", "channels": [1, 2, 2], "head_channels": 2, "fc_hidden": 6}


def _experiment(growth: dict[str, Any], *, epochs: int = 6, **rule: Any) -> dict[str, Any]:
    return {
        "name": "growth",
        "data": {"name": "blobs", "image_size": 8, "n_samples": 120, "clusters_per_class": 2},
        "model": SMALL,
        "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 0.01, "on_model_change": "keep_state",
                          **rule},
        "callbacks": [{"name": "self_expansion", "subset_size": 16, **growth}],
        "trainer": {"epochs": epochs, "batch_size": 32, "progress": "none", "plots": False, "checkpoint_every": 0},
        "seed": 1,
    }


def test_the_tau_comparison_and_the_layer_versus_channel_rule() -> None:
    assert decide(1.0, {0: 2.5, 1: 1.5}, {0: 2.1}, tau=2.0) == ("layer", 0)
    assert decide(1.0, {0: 2.1}, {0: 1.0, 1: 3.0}, tau=2.0) == ("channels", 1)
    assert decide(1.0, {0: 1.9}, {0: 1.5}, tau=2.0) is None  # the best does not pass tau
    assert decide(1.0, {0: 2.0}, {}, tau=2.0) is None  # "exceeds": a ratio of exactly tau is not enough
    assert decide(1.0, {0: 3.0}, {0: 3.0}, tau=2.0) is None  # a tie between the kinds: neither branch of the rule
    assert decide(1.0, {0: 3.0, 1: 3.0}, {}, tau=2.0) == ("layer", 0)  # a tie between blocks: the first
    assert decide(1.0, {}, {2: 2.5}, tau=2.0) == ("channels", 2)
    assert decide(0.0, {0: 1e-9}, {}, tau=2.0) == ("layer", 0) and decide(0.0, {}, {}, tau=2.0) is None


def test_the_channel_step_moves_on_after_the_configured_number_of_expansions() -> None:
    assert [channel_step_at(n, [2, 4], 5) for n in (0, 4, 5, 9, 30)] == [2, 2, 4, 4, 4]
    assert [channel_step_at(n, [1, 2, 3], 1) for n in (0, 1, 2, 3)] == [1, 2, 3, 3]


def _run(growth: dict[str, Any], **kw: Any) -> Trainer:
    trainer = Trainer(_experiment(growth, **kw), write=False, verbose=False)
    trainer.fit()
    return trainer


def test_the_cooldown_blocks_checks_for_exactly_cooldown_epochs() -> None:
    cb = _run({"criterion": "random", "cooldown": 2}, epochs=8).callbacks[0]
    assert [e["epoch"] for e in cb.log] == [1, 4, 7]  # epochs 2-3 and 5-6 are the cooldowns
    assert [c["epoch"] for c in cb.checks] == [1, 4, 7]
    scored = _run({"tau": 1e9, "cooldown": 2}, epochs=4).callbacks[0]  # never grows: checked every epoch
    assert [c["epoch"] for c in scored.checks] == [1, 2, 3, 4] and not scored.log


def test_capacity_limits_are_respected() -> None:
    exp = _experiment({"criterion": "random", "cooldown": 0, "allow": ["layer"]}, epochs=5)
    exp["model"] = {**SMALL, "max_layers_per_block": 2}
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.fit()
    assert trainer.model.layers_per_block() == [2, 2]  # two expansions, then no candidate is left
    assert len(trainer.callbacks[0].log) == 2
    exp = _experiment({"criterion": "random", "cooldown": 0, "allow": ["channels"], "channel_step": [1]}, epochs=4)
    exp["model"] = {**SMALL, "max_channels_per_block": 3}
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.fit()
    assert trainer.model.channels() == [1, 3, 3]
    capped = _run({"criterion": "random", "cooldown": 0, "max_total_params": 1}, epochs=2)
    assert not capped.callbacks[0].log


def test_after_an_expansion_the_optimizer_holds_every_parameter_and_keeps_the_old_moments() -> None:
    exp = _experiment({"criterion": "random", "random_schedule": [1]}, epochs=1)
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.build()
    seen: dict[str, Any] = {}
    original = trainer.rule.model_changed

    def spy(model: Any, ctx: Any) -> None:
        seen["old"] = trainer.rule.optimizer
        seen["state"] = {id(p): {k: v.clone() for k, v in s.items()} for p, s in trainer.rule.optimizer.state.items()}
        seen["shapes"] = {id(p): tuple(s["exp_avg"].shape) for p, s in trainer.rule.optimizer.state.items()}
        original(model, ctx)

    trainer.rule.model_changed = spy  # type: ignore[method-assign]
    trainer.fit()
    (entry,) = trainer.callbacks[0].log
    opt = trainer.rule.optimizer
    assert opt is not seen["old"]
    held = [p for g in opt.param_groups for p in g["params"]]
    assert {id(p) for p in held} == {id(p) for p in trainer.model.parameters()} and len(held) == len(set(map(id, held)))
    for p in trainer.model.parameters():
        if id(p) not in seen["state"]:
            assert p not in opt.state  # a new parameter: fresh state
            continue
        old, new = seen["state"][id(p)], opt.state[p]
        lead = tuple(slice(0, n) for n in seen["shapes"][id(p)])
        assert torch.equal(new["exp_avg"][lead], old["exp_avg"]) and torch.equal(new["step"], old["step"])
        assert float(new["exp_avg"].abs().sum()) == pytest.approx(float(old["exp_avg"].abs().sum()))
    assert entry["params_after"] > entry["params_before"]


def test_with_on_model_change_reset_the_new_optimizer_holds_every_parameter_with_fresh_state() -> None:
    trainer = _run({"criterion": "random", "random_schedule": [1]}, epochs=1, on_model_change="reset")
    (entry,) = trainer.callbacks[0].log
    opt = trainer.rule.optimizer
    held = [p for g in opt.param_groups for p in g["params"]]
    assert {id(p) for p in held} == {id(p) for p in trainer.model.parameters()} and len(held) == len(set(map(id, held)))
    assert not opt.state  # explicitly reset: no moments carried over the expansion
    assert entry["params_after"] > entry["params_before"]


def test_the_callback_refuses_a_model_that_cannot_grow() -> None:
    exp = _experiment({})
    exp["model"] = {"name": "mlp", "hidden": [8]}
    with pytest.raises(Exception, match="expandable model"):
        Trainer(exp, write=False, verbose=False).fit()


def test_dips_are_the_validation_drop_at_the_evaluation_after_an_expansion() -> None:
    cb = SelfExpansion()
    cb.log = [{"val_before": 0.9, "val_after": None, "dip": None}]

    class Ctx:
        extra: dict[str, Any] = {}

    cb.on_evaluate_end("val", {"val/accuracy": 0.85}, Ctx())  # type: ignore[arg-type]
    assert cb.log[0]["dip"] == pytest.approx(0.05) and cb.last_value == 0.85
    cb.on_evaluate_end("val", {"val/accuracy": 0.5}, Ctx())  # type: ignore[arg-type]
    assert cb.log[0]["val_after"] == 0.85  # only the first evaluation after it counts
    cb.log.append({"val_before": 0.5, "val_after": None, "dip": None})
    cb.on_evaluate_end("val", {"val/accuracy": 0.7}, Ctx())  # type: ignore[arg-type]
    assert cb.log[1]["dip"] == 0.0
