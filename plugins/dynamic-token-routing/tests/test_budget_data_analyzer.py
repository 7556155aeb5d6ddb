"""The budget loss and its learning rule, the multi-scale digits generator and the routing analyzer."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from forwardkit_dynamic_token_routing.analyzer import RoutingAnalyzer, object_mask, pearson
from forwardkit_dynamic_token_routing.budget import BudgetConstraintLoss, budget_loss, warmup_weight
from forwardkit_dynamic_token_routing.data import MultiScaleDigits
from forwardkit_dynamic_token_routing.model import DynamicRoutingViT

import forwardkit
from forwardkit.interfaces import RunContext

torch.set_num_threads(1)
TINY = {"img_size": 16, "stem_stride": 2, "num_scales": 2, "num_layers": 2, "widths": [8, 16], "heads": [1, 2],
        "num_classes": 4}
DIGITS = {"canvas": 16, "min_size": 6, "max_size": 14, "train_size": 48, "test_size": 24, "fragment_size": 4}


# ---- budget loss ---------------------------------------------------------------------------------------
def test_budget_loss_is_zero_on_budget_and_quadratic_off_it():
    assert float(budget_loss(torch.tensor([60.0, 60.0]), 100.0, 0.6)) == 0.0
    assert float(budget_loss(torch.tensor([50.0, 70.0]), 100.0, 0.6)) == 0.0  # the batch mean meets the budget
    assert float(budget_loss(torch.tensor(80.0), 100.0, 0.6)) == pytest.approx(0.04)
    assert warmup_weight(1.0, 1.0, 5, 10) == 0.5 and warmup_weight(1.0, 1.0, 30, 10) == 1.0
    assert warmup_weight(2.0, 0.0, 0, 10) == 2.0


@pytest.mark.parametrize("estimator", ["straight_through", "soft"])
def test_the_budget_gradient_moves_the_gate_logits_towards_the_budget(estimator: str) -> None:
    """Above the budget the gradient of L_B w.r.t. the T and D gate logits is positive (a descent step lowers
    them, and the cost), below it negative."""
    torch.manual_seed(0)
    model = DynamicRoutingViT(**TINY).train()
    x = torch.randn(4, 16, 16, 1, generator=torch.Generator().manual_seed(0))
    for mu, sign, t_bias in ((0.2, 1.0, 0.55), (1.0, -1.0, 0.0)):
        for node in model.all_nodes():
            with torch.no_grad():
                node.gate.proj.bias.copy_(torch.tensor([t_bias, 0.55, t_bias]))
        model.zero_grad(set_to_none=True)
        trace = model.forward_routing(x).trace
        ratio = float(trace.grid_flops("hard").mean()) / trace.max_flops
        assert (ratio > mu) == (sign > 0)
        budget_loss(trace.grid_flops(estimator), trace.max_flops, mu).backward()
        grads = torch.stack([n.gate.proj.bias.grad for n in model.all_nodes()])  # (nodes, 3)
        moved = grads[:, [0, 2]][grads[:, [0, 2]] != 0]
        assert moved.numel() >= 3 and bool((sign * moved > 0).all()), (mu, grads)
    with torch.no_grad():
        value = model.forward_routing(x).trace
    assert torch.equal(value.grid_flops("straight_through"), value.grid_flops("hard"))  # ST: the executed cost


def test_the_rule_adds_the_budget_term_to_the_loss_and_lowers_the_cost():
    torch.manual_seed(0)
    model = DynamicRoutingViT(**TINY)
    rule = BudgetConstraintLoss(target_ratio=0.1, weight=50.0, warmup_epochs=0.0,
                                rule={"name": "backprop", "lr": 0.05, "optimizer": "adam"})
    task = torch.nn.functional.cross_entropy
    ctx = RunContext(model=model, loss_fn=lambda out, b: task(out, b["y"]), steps_per_epoch=4, total_steps=20)
    rule.setup(model, ctx)
    batch = model.example_batch(8, generator=torch.Generator().manual_seed(1))
    before = copy.deepcopy(model).train()
    with torch.no_grad():
        expected_task = float(task(before(batch["x"]), batch["y"]))
    first = rule.step(batch, ctx)
    assert {"loss", "lr", "budget_loss", "budget_weight", "flops_ratio"} <= set(first)
    assert first["budget_weight"] == 50.0 and first["flops_ratio"] == pytest.approx(1.0)
    assert first["budget_loss"] == pytest.approx((first["flops_ratio"] - 0.1) ** 2, rel=1e-5)
    assert first["loss"] == pytest.approx(expected_task + 50.0 * first["budget_loss"], rel=1e-5)
    for step in range(1, 8):
        ctx.step = step
        last = rule.step(batch, ctx)
    assert last["flops_ratio"] < first["flops_ratio"] - 0.2
    assert ctx.loss_fn is not None and ctx.loss_fn.__name__ == "<lambda>"  # restored after every step
    static = DynamicRoutingViT(**TINY, static_path="pvt")
    ctx_s = RunContext(model=static, loss_fn=ctx.loss_fn, steps_per_epoch=4, total_steps=4)
    plain = BudgetConstraintLoss()
    plain.setup(static, ctx_s)
    assert "budget_loss" not in plain.step(batch, ctx_s)  # no routing: plain backprop


# ---- data ----------------------------------------------------------------------------------------------
def test_multi_scale_digits_are_pasted_inside_their_box_at_their_size():
    ds = MultiScaleDigits(**DIGITS, distractors=0)
    md = ds.metadata
    assert md.input_shape == (16, 16, 1) and md.num_classes == 10 and md.sizes == {"train": 48, "test": 24}
    train = ds.split("train")
    x, size, box = train.x[..., 0], train.tensors["size"], train.tensors["box"]
    assert bool(((size >= 6) & (size <= 14)).all()) and len(set(size.tolist())) > 3
    assert torch.equal(box[:, 2] - box[:, 0], size) and torch.equal(box[:, 3] - box[:, 1], size)
    assert bool((box[:, :2] >= 0).all()) and bool((box[:, 2:] <= 16).all())
    for i in range(len(train)):
        x0, y0, x1, y1 = (int(v) for v in box[i])
        outside = x[i].clone()
        outside[y0:y1, x0:x1] = 0.0
        assert float(x[i, y0:y1, x0:x1].sum()) > 0 and float(outside.abs().max()) == 0.0  # no ink outside
    assert float(x.max()) <= 1.0 and float(x.min()) >= 0.0


def test_distractors_add_faint_ink_and_splits_use_disjoint_source_digits():
    clean = MultiScaleDigits(**DIGITS, distractors=0).split("train").x
    noisy = MultiScaleDigits(**DIGITS, distractors=3).split("train").x
    extra = noisy - clean
    assert float(extra.min()) >= 0.0 and float(extra.max()) <= 0.3 + 1e-6 and float(extra.sum()) > 0
    ds = MultiScaleDigits(**DIGITS, val_size=8)
    used = {name: set(ds.split(name).tensors["source"].tolist()) for name in ds.splits}
    assert ds.splits == ("train", "val", "test") and [len(used[n]) for n in ds.splits] == [48, 8, 24]
    assert not (used["train"] & used["test"]) and not (used["train"] & used["val"]) and not (used["val"] & used["test"])
    pool = forwardkit.create("dataset", "mnist5k", val_fraction=0.0, test_fraction=0.0, seed=0).split("train")
    train = ds.split("train")
    assert torch.equal(train.y, pool.y[train.tensors["source"]])  # the label is the source digit's


# ---- analyzer ------------------------------------------------------------------------------------------
def test_object_mask_and_pearson():
    mask = object_mask(torch.tensor([[4.0, 4.0, 8.0, 8.0]]), 1, 8, 2)
    assert mask[0].nonzero().tolist() == [[2, 2], [2, 3], [3, 2], [3, 3]]
    assert pearson(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert math.isnan(pearson(torch.ones(3), torch.arange(3.0)))


def test_the_analyzer_reports_paths_flops_and_size_correlations():
    ds = MultiScaleDigits(**DIGITS)
    test = ds.split("test")
    batch = {k: v[:12] for k, v in test.tensors.items()}
    torch.manual_seed(0)
    model = DynamicRoutingViT(**TINY)
    for node in model.all_nodes():
        with torch.no_grad():
            node.gate.proj.bias.copy_(torch.tensor([0.0, 0.3, -0.1]))
            node.gate.proj.weight.mul_(10.0)
    out = RoutingAnalyzer(figure=True).analyze(model, [batch, batch])
    n = out.numbers
    assert n["images"] == 24 and 0 < n["grid_flops_ratio"] < 1
    assert n["flops_per_image"] == pytest.approx(n["grid_flops_per_image"] + model.fixed_flops)
    assert n["flops_over_static"] == pytest.approx(n["flops_per_image"] / model.static_flops())
    assert "corr_size_first_down" in n and "corr_size_blocks" in n
    rows = out.tables["nodes"]
    assert [(r["layer"], r["scale"]) for r in rows][:2] == [(1, 0), (1, 1)]
    assert all(0 <= r["T_fraction"] <= 1 for r in rows) and "routing_maps" in out.figures
    out.close()
    static = DynamicRoutingViT(**TINY, static_path="pvt")
    s = RoutingAnalyzer(figure=False).analyze(static, [batch]).numbers
    assert s["flops_over_static"] == pytest.approx(1.0) and s["l1s0/T_fraction"] == 1.0
