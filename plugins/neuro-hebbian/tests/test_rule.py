"""The test-time rule: what changes, in what order, episodic restore, exact resume, labels never read."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import pytest
import torch
from forwardkit_neuro_hebbian.modulator import modulators
from forwardkit_neuro_hebbian.rule import kit_model

import forwardkit
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = kit_model()
    with torch.no_grad():  # a non-identity modulator and non-trivial source statistics, as after training
        for m in modulators(model):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
        model.train()
        for _ in range(3):
            model(torch.rand(16, 8, 8, 1))
    return model.eval()


def _batches(n: int = 5, seed: int = 1) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [{"x": torch.rand(8, 8, 8, 1, generator=g) ** 2} for _ in range(n)]


def _ctx(model: torch.nn.Module) -> RunContext:
    return RunContext(model=model, device=torch.device("cpu"))


def _rule(name: str = "nhl", **fields):
    return forwardkit.create("learning_rule", name, **{"hebbian": {"eta": 0.2}, "mod_lr": 0.05, **fields})


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _changed(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> set[str]:
    return {k for k in a if not torch.equal(a[k], b[k])}


@pytest.mark.parametrize(("name", "changing"), [
    ("modulator_only", {"stages.0.norm.modulator.weight", "stages.0.norm.modulator.bias"}),
    ("hebbian_only", {"stages.0.conv.weight"}),
    ("nhl", {"stages.0.norm.modulator.weight", "stages.0.norm.modulator.bias", "stages.0.conv.weight"}),
    ("bn_adapt", set()),
    ("source_only", set()),
])
def test_only_the_early_layer_and_the_modulator_change_and_the_classifier_never(name, changing):
    model = _model()
    before = _params(model)
    rule = _rule(name)
    rule.begin_episode(model, _ctx(model))
    for batch in _batches(3):
        rule.adapt(model, batch, _ctx(model))
    assert _changed(before, _params(model)) == changing     # everything else bit-identical, the head included
    assert all(p.grad is None for n, p in model.named_parameters() if n not in changing)


def test_episodic_mode_restores_the_source_model_after_every_batch():
    model = _model()
    source = copy.deepcopy(model.state_dict())
    rule = _rule(episodic=True)
    rule.begin_episode(model, _ctx(model))
    plain = _model()
    plain_rule = _rule()
    plain_rule.begin_episode(plain, _ctx(plain))
    outs = []
    for batch in _batches(3):
        outs.append(rule.adapt(model, batch, _ctx(model)))
        assert not _changed(source, model.state_dict())     # weights and batch-norm statistics, bit for bit
    # every batch is adapted on from the source model: each output is what a fresh episode gives for it
    for batch, out in zip(_batches(3), outs, strict=True):
        fresh = _model()
        r = _rule()
        r.begin_episode(fresh, _ctx(fresh))
        torch.testing.assert_close(out, r.adapt(fresh, batch, _ctx(fresh)), rtol=0, atol=0)
    assert not torch.equal(outs[1], plain_rule.adapt(plain, _batches(3)[0], _ctx(plain)))


def test_the_prediction_for_batch_t_is_made_after_adapting_on_t_and_before_t_plus_1():
    model = _model()
    rule = _rule()
    rule.begin_episode(model, _ctx(model))
    batches = _batches(4)
    states, outs = [copy.deepcopy(model.state_dict())], []
    for batch in batches:
        outs.append(rule.adapt(model, batch, _ctx(model)))
        states.append(copy.deepcopy(model.state_dict()))

    def forward(state: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        probe = _model()
        probe.load_state_dict(state)
        probe.train()  # test-batch statistics, as the rule's bn_mode
        with torch.no_grad():
            return probe(batch["x"])

    for t, batch in enumerate(batches):
        torch.testing.assert_close(outs[t], forward(states[t + 1], batch))   # after adapting on batch t
        assert not torch.allclose(outs[t], forward(states[t], batch))        # not the model before it
        if t + 2 < len(states):
            assert not torch.allclose(outs[t], forward(states[t + 2], batch))  # nor after batch t + 1


@pytest.mark.parametrize("fields", [{}, {"mod_optimizer": "sgd", "hebbian": {"eta": 0.2, "patch_subsample": 7}}])
def test_resuming_mid_stream_reproduces_the_uninterrupted_predictions(fields):
    batches = _batches(6)
    model = _model()
    rule = _rule(**fields)
    rule.begin_episode(model, _ctx(model))
    straight = [rule.adapt(model, b, _ctx(model)) for b in batches]
    straight_metrics = rule.last_metrics

    model = _model()
    rule = _rule(**fields)
    rule.begin_episode(model, _ctx(model))
    first = [rule.adapt(model, b, _ctx(model)) for b in batches[:3]]
    saved_model, saved_rule = copy.deepcopy(model.state_dict()), copy.deepcopy(rule.state_dict())
    assert saved_rule["batches"] == 3 and saved_rule["optimizer"]["state"]

    resumed = _model(seed=5)                      # other weights: everything must come from the saved states
    resumed.load_state_dict(saved_model)
    again = _rule(**fields)
    again.load_state_dict(saved_rule)             # before begin_episode: applied at the episode start
    again.begin_episode(resumed, _ctx(resumed))
    rest = [again.adapt(resumed, b, _ctx(resumed)) for b in batches[3:]]
    for a, b in zip(straight, first + rest, strict=True):
        assert torch.equal(a, b)
    assert again.last_metrics == straight_metrics  # the drift is measured from the saved source filters


class NoLabels(dict):
    """A batch whose labels raise when read."""

    def __getitem__(self, key):
        if key == "y":
            raise AssertionError("the rule read the labels")
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key == "y":
            raise AssertionError("the rule read the labels")
        return super().get(key, default)


def test_labels_are_never_read():
    model = _model()
    rule = _rule()
    rule.begin_episode(model, _ctx(model))
    batch = _batches(1)[0]
    out = rule.adapt(model, NoLabels(batch, y=torch.zeros(8, dtype=torch.long)), _ctx(model))
    other = _model()
    r = _rule()
    r.begin_episode(other, _ctx(other))
    assert torch.equal(out, r.adapt(other, dict(batch), _ctx(other)))


def test_baselines_are_the_source_model_and_test_batch_statistics():
    batch = _batches(1)[0]
    model = _model()
    with torch.no_grad():
        eval_out = model.eval()(batch["x"])
        train_out = copy.deepcopy(model).train()(batch["x"])
    for name, expected in (("source_only", eval_out), ("bn_adapt", train_out)):
        m = _model()
        rule = forwardkit.create("learning_rule", name)
        rule.begin_episode(m, _ctx(m))
        assert torch.equal(rule.adapt(m, batch, _ctx(m)), expected)


def test_metrics_and_refusals():
    model = _model()
    rule = _rule()
    rule.begin_episode(model, _ctx(model))
    rule.adapt(model, _batches(1)[0], _ctx(model))
    m = rule.last_metrics
    assert m["weight_drift"] > 0 and m["hebbian_step"] > 0 and 0 < m["max_prob"] <= 1 and m["entropy"] >= 0
    with pytest.raises(ForwardkitError, match="test time only"):
        rule.step({"x": torch.rand(2, 8, 8, 1)}, _ctx(model))
    bare = forwardkit.create("model", "nhl_cnn", channels=[4], image_size=8)
    with pytest.raises(ForwardkitError, match="neuro_modulator"):
        _rule().begin_episode(bare, _ctx(bare))
    hebb = forwardkit.create("learning_rule", "hebbian_only")
    hebb.begin_episode(bare, _ctx(bare))           # the Hebbian ablation needs no modulator
