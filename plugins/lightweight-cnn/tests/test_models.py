"""The models' mechanism: shapes, the unified model initialised from stage 1 (card test: it reproduces each
trunk's stage-1 features exactly), and stage 1's branches (card test: B only ever sees augmented inputs, A only
original ones, no shared parameter)."""

from __future__ import annotations

import copy

import torch
from forwardkit_lightweight_cnn.augment import Augmenter
from forwardkit_lightweight_cnn.config import AugmentFields
from forwardkit_lightweight_cnn.recipe import two_stage_experiment

import forwardkit
from forwardkit.interfaces.context import RunContext

SMALL = {"widths": [4, 6, 8], "pool_after": [False, True, True]}
BLOBS = {"name": "blobs", "image_size": 8, "image_channels": 1, "num_classes": 4, "n_samples": 80,
         "val_fraction": 0.0, "test_fraction": 0.25}


def test_shapes_channels_last():
    x = torch.rand(3, 28, 28, 1)
    assert forwardkit.create("model", "tiny_branch_cnn")(x).shape == (3, 10)
    assert forwardkit.create("model", "tiny_branch_cnn", head=False)(x).shape == (3, 24)
    assert forwardkit.create("model", "tiny_branch_cnn", gap=False, head=False)(x).shape == (3, 24 * 7 * 7)
    assert forwardkit.create("model", "dual_io_model")(x, x).shape == (3, 2, 10)
    unified = forwardkit.create("model", "unified_model")
    assert unified(x).shape == (3, 10) and unified.features(x).shape == (3, 48)


def test_the_branches_share_no_parameter():
    for name in ("dual_io_model", "unified_model"):
        model = forwardkit.create("model", name)
        a = {id(p) for p in model.branch_a.parameters()} | {p.data_ptr() for p in model.branch_a.parameters()}
        b = {id(p) for p in model.branch_b.parameters()} | {p.data_ptr() for p in model.branch_b.parameters()}
        assert a and not a & b


def test_branch_a_sees_only_originals_and_branch_b_only_augmented_inputs():
    model = forwardkit.create("model", "dual_io_model", **SMALL, input_size=[8, 8], num_classes=4)
    seen: dict[str, list[torch.Tensor]] = {"a": [], "b": []}
    model.branch_a.register_forward_pre_hook(lambda _m, args: seen["a"].append(args[0].clone()))
    model.branch_b.register_forward_pre_hook(lambda _m, args: seen["b"].append(args[0].clone()))
    rule = forwardkit.create("learning_rule", "dual_io_rule", seed=7)
    ctx = RunContext(model=model, loss_fn=lambda out, batch: torch.nn.functional.cross_entropy(out, batch["y"]))
    rule.setup(model, ctx)
    twin = Augmenter(AugmentFields(seed=7))  # the same draws as the rule's augmentation
    batches = [model.example_batch(5, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    for batch in batches:
        batch.pop("x_aug")
        metrics = rule.step(batch, ctx)
        assert abs(metrics["loss"] - metrics["loss_a"] - metrics["loss_b"]) < 1e-5  # CE(A(x)) + CE(B(aug x))
    assert len(seen["a"]) == len(seen["b"]) == 3
    for batch, xa, xb in zip(batches, seen["a"], seen["b"], strict=True):
        assert torch.equal(xa, batch["x"])
        assert torch.equal(xb, twin(batch["x"])) and not torch.allclose(xb, batch["x"])


def test_unified_model_from_stage_one_reproduces_each_trunks_features():
    trainer = {"progress": "none", "plots": False, "eval_every": 0, "checkpoint_every": 0, "max_steps": 3}
    exp = two_stage_experiment(BLOBS, trunk=SMALL, head_hidden=8, stage1_epochs=1, head_epochs=0,
                               epochs_per_phase=1, trainer=trainer, batch_size=16)
    exp["stages"] = exp["stages"][:2]  # stage 1, then the unified model with epochs 0: it only carries
    exp["stages"][1]["trainer"] = {"epochs": 0}
    stage_one = copy.deepcopy(exp)
    stage_one["stages"] = stage_one["stages"][:1]
    dual = forwardkit.run_stages(stage_one, write=False, verbose=False).model
    unified = forwardkit.run_stages(exp, write=False, verbose=False).model
    assert type(unified).__name__ == "UnifiedModel" and type(dual).__name__ == "DualIOModel"
    x = torch.rand(6, 8, 8, 1)
    dual.eval()
    unified.eval()
    with torch.no_grad():
        assert torch.equal(unified.branch_a(x), dual.branch_a.trunk(x))
        assert torch.equal(unified.branch_b(x), dual.branch_b.trunk(x))
        assert torch.equal(unified.features(x), torch.cat([dual.branch_a.trunk(x), dual.branch_b.trunk(x)], -1))
        assert not torch.equal(dual.branch_a.trunk(x), dual.branch_b.trunk(x))  # two trunks, trained apart
