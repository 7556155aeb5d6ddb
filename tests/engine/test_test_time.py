"""Test-time learning: labels never visible, a deterministic stream, per-episode resets, the trained model kept."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from forwardkit.builtin.tent import Tent, entropy, norm_affine_parameters
from forwardkit.config import ComponentConfig
from forwardkit.engine.test_time import episodes, stream_order
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule
from forwardkit.interfaces.model import forward_batch
from forwardkit.registry import Registry

from .conftest import mlp_experiment


class Spy(LearningRule):
    """Records what it sees; nudges the weights so that resets are observable."""

    class Config(ComponentConfig):
        nudge: float = 0.01

    adapts_at_test_time = True
    log: ClassVar[list[tuple[str, Any]]] = []

    def begin_episode(self, model, ctx):
        with torch.no_grad():
            Spy.log.append(("begin", float(sum(p.sum() for p in model.parameters()))))

    def adapt(self, model, batch, ctx):
        Spy.log.append(("adapt", (tuple(sorted(batch)), batch["x"][0].sum().item())))
        with torch.no_grad():
            next(iter(model.parameters())).add_(self.config.nudge)
        return None


@pytest.fixture
def registry():
    reg = Registry.discover(entry_points=False)
    reg.register_class("learning_rule", "spy", Spy)
    return reg


def _exp(nudge=0.01, **test_time):
    exp = mlp_experiment(epochs=1)
    exp["test_time"] = {"rule": {"name": "spy", "nudge": nudge}, **test_time}
    exp["trainer"]["eval_batch_size"] = 40
    return exp


def test_the_rule_never_sees_labels_and_the_trained_model_is_kept(registry):
    Spy.log.clear()
    trainer = Trainer(_exp(), write=False, registry=registry)
    result = trainer.fit()
    keys = {entry[1][0] for entry in Spy.log if entry[0] == "adapt"}
    assert keys == {("x",)}
    assert "tta/test/accuracy" in result.final and "test/accuracy" in result.final
    plain = Trainer(mlp_experiment(epochs=1), write=False).fit()
    for key, value in plain.model.state_dict().items():  # adaptation left no trace on the returned model
        assert torch.equal(value, result.model.state_dict()[key]), key
    assert result.final["test/accuracy"] == plain.final["test/accuracy"]


def test_episodes_reset_to_the_trained_model(registry):
    Spy.log.clear()
    Trainer(_exp(episode_batches=1), write=False, registry=registry).fit()
    starts = [v for e, v in Spy.log if e == "begin"]
    assert len(starts) > 2 and len(set(starts)) == 1  # every episode begins from the same weights
    Spy.log.clear()
    Trainer(_exp(episode_batches=1, reset=False), write=False, registry=registry).fit()
    starts = [v for e, v in Spy.log if e == "begin"]
    assert len(set(starts)) == len(starts)  # without reset the nudges accumulate


def test_the_stream_is_deterministic_and_seeded_orders_are_fixed(registry):
    def stream(**kw):
        Spy.log.clear()
        result = Trainer(_exp(**kw), write=False, registry=registry).fit()
        return [v for e, v in Spy.log if e == "adapt"], result.final["tta/test/accuracy"]

    assert stream() == stream()
    assert stream(stream_seed=3) == stream(stream_seed=3)
    assert stream(stream_seed=3)[0] != stream()[0]
    assert stream_order(5, None) == [0, 1, 2, 3, 4] and sorted(stream_order(50, 1)) == list(range(50))
    assert episodes(list(range(7)), 3, 2) == [[[0, 1, 2], [3, 4, 5]], [[6]]]
    assert episodes(list(range(7)), 3, 0) == [[[0, 1, 2], [3, 4, 5], [6]]]


def test_transductive_mode_adapts_on_the_whole_episode_first(registry):
    Spy.log.clear()
    online = Trainer(_exp(), write=False, registry=registry).fit().final["tta/test/accuracy"]
    Spy.log.clear()
    transductive = Trainer(_exp(mode="transductive", nudge=0.5), write=False, registry=registry).fit()
    events = [e for e, _ in Spy.log]
    assert events[0] == "begin" and set(events[1:]) == {"adapt"}  # one episode: every batch adapted first
    assert online != transductive.final["tta/test/accuracy"]  # then scored with the fully adapted weights


def test_a_rule_that_does_not_adapt_is_refused():
    exp = mlp_experiment(epochs=1)
    exp["test_time"] = {"rule": "backprop"}
    with pytest.raises(ForwardkitError, match="does not adapt at test time"):
        Trainer(exp, write=False).fit()


def test_tent_minimises_entropy_on_the_norm_layers_only():
    exp = {"data": {"name": "blobs", "image_size": 8, "n_samples": 300}, "model": {"name": "resnet", "depth": 8,
           "width": 8}, "trainer": {"epochs": 1, "batch_size": 32, "progress": "none"},
           "test_time": {"rule": {"name": "tent", "lr": 0.01, "steps": 3}, "episode_batches": 1}}
    trainer = Trainer(exp, write=False)
    result = trainer.fit()
    assert 0.0 <= result.final["tta/test/accuracy"] <= 1.0
    model = trainer.model
    rule = Tent(lr=0.05, steps=5)
    batch = next(iter(trainer._sample_batches("test", 1)))
    visible = {"x": batch["x"]}
    rule.begin_episode(model, None)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and {id(p) for p in trainable} == {id(p) for p in norm_affine_parameters(model)}
    before = entropy(forward_batch(model, visible)).mean().item()
    frozen = {k: v.clone() for k, v in model.state_dict().items() if "conv" in k}
    for _ in range(3):
        rule.adapt(model, visible, None)
    assert entropy(forward_batch(model, visible)).mean().item() < before
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in frozen.items())
    with pytest.raises(ForwardkitError, match="adapts at test time only"):
        rule.step(batch, None)


def test_a_test_time_rule_cannot_be_the_training_rule():
    from forwardkit.errors import ConfigError

    exp = mlp_experiment(epochs=1)
    exp["learning_rule"] = {"name": "tent"}
    with pytest.raises(ConfigError, match="adapts at test time only"):
        Trainer(exp, write=False).fit()
