"""``moe_aux_loss`` adds lambda * the load-balance losses of every MoE call to the rule's loss; ``expert_load``
reports per-block load, entropy, dropped rates and routing agreement."""

from __future__ import annotations

import math

import pytest
import torch
from forwardkit_widenet.analyzer import ExpertLoadAnalyzer
from forwardkit_widenet.aux_loss import MoEAuxLoss
from forwardkit_widenet.records import moe_layers
from forwardkit_widenet.vit import WideNetViT

from forwardkit.interfaces import RunContext

SMALL = {"image_size": [8, 8], "in_channels": 1, "patch": 2, "depth": 3, "dim": 16, "heads": 2, "num_classes": 3,
         "dropout": 0.0}


def _ctx(model: torch.nn.Module) -> RunContext:
    return RunContext(model=model, loss_fn=lambda out, batch: torch.nn.functional.cross_entropy(out, batch["y"]))


def _losses(weight: float, reduce: str = "sum") -> tuple[list[float], float]:
    """(the loss the inner rule minimised, recomputed here from the model before the step; the rule's aux)."""
    torch.manual_seed(0)
    model = WideNetViT(**SMALL, moe={"router_noise": "none"})
    batch = model.example_batch(4, generator=torch.Generator().manual_seed(1))
    rule = MoEAuxLoss(weight=weight, reduce=reduce, rule={"name": "backprop", "optimizer": "sgd", "lr": 1e-3})
    ctx = _ctx(model)
    rule.setup(model, ctx)
    model.train()
    out = model(batch["x"])
    aux = [float(r.aux_loss.detach()) for _, layer in moe_layers(model) for r in layer.records
           if r.aux_loss is not None]
    task = float(torch.nn.functional.cross_entropy(out, batch["y"]).detach())
    metrics = rule.step(batch, ctx)
    return [metrics["loss"], task, *aux], metrics["aux_loss"]


def test_the_rule_adds_lambda_times_the_sum_over_blocks() -> None:
    (loss, task, *aux), reported = _losses(0.5)
    assert len(aux) == 3  # one load-balance loss per block of the shared MoE
    assert reported == pytest.approx(sum(aux), rel=1e-5)
    assert loss == pytest.approx(task + 0.5 * sum(aux), rel=1e-5)
    (loss_mean, task_mean, *aux_mean), _ = _losses(0.5, reduce="mean")
    assert loss_mean == pytest.approx(task_mean + 0.5 * sum(aux_mean) / 3, rel=1e-5)
    (loss_off, task_off, *_), _ = _losses(0.0)
    assert loss_off == pytest.approx(task_off, rel=1e-6)


def test_the_rule_restores_the_loss_and_delegates_its_state() -> None:
    model = WideNetViT(**SMALL)
    rule = MoEAuxLoss()
    ctx = _ctx(model)
    base = ctx.loss_fn
    rule.setup(model, ctx)
    rule.step(model.example_batch(2), ctx)
    assert ctx.loss_fn is base
    state = rule.state_dict()
    assert set(state) == {"inner"} and state["inner"]["updates"] == 1
    assert not any(layer.records for _, layer in moe_layers(model))  # consumed by the loss


def test_the_analyzer_reports_load_entropy_drops_and_agreement() -> None:
    torch.manual_seed(2)
    model = WideNetViT(**SMALL, moe={"capacity_factor_train": 0.5, "min_capacity": 0})
    data = [model.example_batch(4, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
    analysis = ExpertLoadAnalyzer(figure=False).analyze(model, data)
    n = analysis.numbers
    assert n["calls"] == 3 and model.training  # routed in eval, the mode restored
    for t in range(3):
        loads = [n[f"call{t}/expert{i}_load"] for i in range(4)]
        assert sum(loads) == pytest.approx(1.0)
        assert 0.0 <= n[f"call{t}/load_entropy"] <= 1.0
        expected = -sum(p * math.log(p) for p in loads if p > 0) / math.log(4)
        assert n[f"call{t}/load_entropy"] == pytest.approx(expected, rel=1e-5)
    assert n["dropped_rate"] == 0.0  # eval capacity 2.0 with K=2, E=4
    assert n["dropped_rate_train_capacity"] > 0.0  # C=0.5 would drop
    assert 0.0 <= n["routing_agreement"] <= 1.0
    assert len(analysis.tables["expert_load"]) == 12 and len(analysis.tables["calls"]) == 3
    assert not any(layer.records for _, layer in moe_layers(model))


def test_the_analyzer_refuses_a_model_without_moe() -> None:
    with pytest.raises(ValueError, match="MoE layers"):
        ExpertLoadAnalyzer().analyze(WideNetViT(**SMALL, ffn="dense"), [])
