"""The mixture_token_prediction rule (card tests: perturbations touch the input and the next-all target is
always clean, next_target perturbed / clean, 'alternate' flips with the trainer's epoch, w_next = 0 gives the
head no gradient) and its phase schedule."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from forwardkit_tokenunify import rule as rule_module
from forwardkit_tokenunify.config import MixtureTokenPredictionConfig
from forwardkit_tokenunify.rule import MixtureTokenPrediction, active_phase, phase_bounds
from forwardkit_tokenunify.tokens import patchify
from forwardkit_tokenunify.unet import TokenUnifyUNet
from torch import nn

import forwardkit
from forwardkit.errors import ConfigError
from forwardkit.interfaces import RunContext


class Spy(nn.Module):
    """A 'dense model' that records its inputs and returns a learnable constant of the input's shape."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return torch.zeros_like(x) + self.bias

    def example_batch(self, batch_size: int = 2, **_: Any) -> dict[str, torch.Tensor]:
        return {"x": torch.rand(batch_size, 16, 16, 1)}


def _rule(model: nn.Module, epochs: int = 1, **cfg: Any) -> tuple[MixtureTokenPrediction, RunContext]:
    rule = MixtureTokenPrediction(seed=0, patch=(4, 4), **cfg)
    ctx = RunContext(model=model, epochs=epochs, steps_per_epoch=1, total_steps=epochs)
    rule.setup(model, ctx)
    return rule, ctx


AR = [{"epochs_frac": 1.0, "objectives": ["next", "next_all"]}]


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_perturbations_touch_the_input_and_the_next_all_target_is_clean(prob):
    model = Spy()
    rule, _ = _rule(model, phases=AR, perturb_prob=prob, perturbations=["contrast"])
    x = torch.rand(6, 16, 16, 1) * 0.5 + 0.25
    losses = rule.losses(model, x, ["next", "next_all"])
    seen = patchify(model.inputs[0], (4, 4))[:, 0]  # token 0 is always visible (k >= 1)
    touched = not torch.equal(seen, patchify(x, (4, 4))[:, 0])
    assert touched == (prob == 1.0)
    # the model outputs 0 -> sigmoid 0.5 everywhere: MSE against the clean image, whatever the input was
    assert torch.allclose(losses["next_all"], ((0.5 - x) ** 2).mean())


@pytest.mark.parametrize("where", ["perturbed", "clean"])
def test_next_target_is_cut_from_the_chosen_volume(where, monkeypatch):
    cut_from: list[torch.Tensor] = []
    original = rule_module.next_token_target

    def spy(x: torch.Tensor, k: torch.Tensor, patch: tuple[int, ...]) -> torch.Tensor:
        cut_from.append(x)
        return original(x, k, patch)

    monkeypatch.setattr(rule_module, "next_token_target", spy)
    model = Spy()
    rule, _ = _rule(model, phases=AR, perturb_prob=1.0, perturbations=["contrast"], next_target=where)
    x = torch.rand(4, 16, 16, 1)
    rule.losses(model, x, ["next"])
    seen_prefix = patchify(model.inputs[0], (4, 4))[:, 0]
    assert torch.equal(patchify(cut_from[0], (4, 4))[:, 0], seen_prefix if where == "perturbed" else
                       patchify(x, (4, 4))[:, 0])
    assert (where == "clean") == torch.equal(cut_from[0], x)


def test_alternate_flips_at_the_period_boundary_with_the_trainers_epoch():
    cfg = {"phases": [{"epochs_frac": 0.25, "objectives": ["random"]},
                      {"epochs_frac": 0.75, "objectives": ["next", "next_all"]}],
           "combine": "alternate", "alternate_period_epochs": 2}
    rule, ctx = _rule(Spy(), epochs=8, **cfg)
    seen = [rule.objectives(e, 8) for e in range(8)]
    # phase 2 starts at epoch 2: next for 2 epochs, then next_all for 2, then next again
    assert seen == [["random"], ["random"], ["next"], ["next"], ["next_all"], ["next_all"], ["next"], ["next"]]
    # the step uses ctx.epoch: the losses it reports flip with it
    x = {"x": torch.rand(2, 16, 16, 1)}
    ctx.epoch = 3
    assert {"loss_next"} <= set(rule.step(x, ctx)) and "loss_next_all" not in rule.step(x, ctx)
    ctx.epoch = 4
    assert "loss_next_all" in rule.step(x, ctx) and "loss_next" not in rule.step(x, ctx)


def test_sum_trains_both_autoregressive_objectives_in_one_step():
    rule, ctx = _rule(Spy(), phases=AR)
    metrics = rule.step({"x": torch.rand(2, 16, 16, 1)}, ctx)
    assert {"loss_next", "loss_next_all"} <= set(metrics)
    assert metrics["loss"] == pytest.approx(metrics["loss_next"] + metrics["loss_next_all"], rel=1e-6)


@pytest.mark.parametrize("w_next", [0.0, 1.0])
def test_with_w_next_zero_the_head_gets_no_gradient(w_next):
    model = TokenUnifyUNet(widths=[4, 8], input_size=(16, 16), bottleneck_mixer=None)
    rule, ctx = _rule(model, phases=AR, w_next=w_next)
    head = rule.head
    assert head is not None and not hasattr(model, "next_token_head")  # the rule's own head: the model is unchanged
    before = {n: p.detach().clone() for n, p in head.named_parameters()}
    rule.step({"x": torch.rand(2, 16, 16, 1)}, ctx)
    grads = [p.grad for p in head.parameters()]
    if w_next == 0:
        assert all(g is None for g in grads)
        assert all(torch.equal(p, before[n]) for n, p in head.named_parameters())
    else:
        assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_phase_schedule_follows_the_epochs():
    assert phase_bounds([0.5, 0.5], 4) == [2, 4]
    assert [active_phase([0.5, 0.5], e, 4)[0] for e in range(4)] == [0, 0, 1, 1]
    assert active_phase([0.25, 0.75], 5, 8) == (1, 2)
    assert MixtureTokenPredictionConfig().phases[0].objectives == ["random"]


def test_bad_configs_name_the_field():
    with pytest.raises(ConfigError, match="phases"):
        forwardkit.create("learning_rule", "mixture_token_prediction",
                          phases=[{"epochs_frac": 0.5, "objectives": ["random"]}])
    with pytest.raises(ConfigError, match="random_mask_ratio"):
        forwardkit.create("learning_rule", "mixture_token_prediction", random_mask_ratio="beta(1,2)")
    with pytest.raises(ConfigError, match="objectives"):
        forwardkit.create("learning_rule", "mixture_token_prediction",
                          phases=[{"epochs_frac": 1.0, "objectives": ["previous"]}])


def test_a_model_that_is_not_dense_gets_a_clear_error():
    model = nn.Linear(1, 3)
    rule, ctx = _rule(model, phases=[{"epochs_frac": 1.0, "objectives": ["random"]}])
    with pytest.raises(ValueError, match="dense model"):
        rule.step({"x": torch.rand(2, 16, 16, 1)}, ctx)


def test_a_head_attached_by_the_adapter_is_the_one_trained():
    model = forwardkit.create("adapter", "next_token_head", patch=[4, 4]).apply(
        TokenUnifyUNet(widths=[4, 8], input_size=(16, 16), bottleneck_mixer=None))
    rule, ctx = _rule(model, phases=AR)
    assert rule.head is model.next_token_head and rule.own_head is None
    before = model.next_token_head.linear.weight.detach().clone()
    rule.step({"x": torch.rand(2, 16, 16, 1)}, ctx)
    assert not torch.equal(model.next_token_head.linear.weight, before)
    assert rule.state_dict()["head"] is None
