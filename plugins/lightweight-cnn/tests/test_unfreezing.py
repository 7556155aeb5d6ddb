"""Card tests of progressive unfreezing: in phase s exactly the top-s layer groups of each trunk (plus the head) are
trainable; after optimizer steps (AdamW with weight decay) frozen tensors are bit-identical; frozen BatchNorm layers
keep their running statistics with frozen_bn_mode='eval' (and do not with 'train')."""

from __future__ import annotations

import pytest
import torch
from forwardkit_lightweight_cnn.unfreezing import apply_phase, layer_groups, phase_of

import forwardkit
from forwardkit.interfaces.context import RunContext

SMALL = {"widths": [4, 6, 8], "pool_after": [False, True, True], "input_size": [8, 8], "num_classes": 4,
         "head_hidden": 8}
LAYERS = 3


def trainable(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def expected(phase: int) -> set[str]:
    """The head, and the top `phase` conv layers of both trunks (by the names of their parameters)."""
    names = {"head.fc1.weight", "head.fc1.bias", "head.fc2.weight", "head.fc2.bias"}
    for layer in range(LAYERS - phase, LAYERS):
        for trunk in ("branch_a", "branch_b"):
            names |= {f"{trunk}.trunk.layers.{layer}.conv.weight", f"{trunk}.trunk.layers.{layer}.conv.bias"}
    return names


def test_phase_schedule():
    kw = {"epochs_head_only": 2, "epochs_per_phase": 2, "groups": 3}
    assert [phase_of(e, **kw) for e in range(10)] == [0, 0, 1, 1, 2, 2, 3, 3, 3, 3]
    assert [phase_of(e, epochs_head_only=0, epochs_per_phase=1, groups=3) for e in range(4)] == [1, 2, 3, 3]


@pytest.mark.parametrize("phase", range(LAYERS + 1))
def test_in_phase_s_exactly_the_top_s_groups_and_the_head_train(phase):
    model = forwardkit.create("model", "unified_model", **SMALL)
    apply_phase(model, phase)
    assert trainable(model) == expected(phase)


def test_groups_per_block_follow_the_max_pools():
    model = forwardkit.create("model", "unified_model", **SMALL)
    head, groups = layer_groups(model, "per_block")
    assert head == ["head"]
    assert groups == [["branch_a.trunk.layers.2", "branch_b.trunk.layers.2"],
                      ["branch_a.trunk.layers.0", "branch_a.trunk.layers.1", "branch_b.trunk.layers.0",
                       "branch_b.trunk.layers.1"]]


def test_any_model_falls_back_to_its_parameter_holding_modules():
    from forwardkit.testing.toys import ToyNet

    toy = ToyNet()
    head, groups = layer_groups(toy)
    assert head == ["head"] and groups == [["fc"], ["norm"], ["bn"], ["conv"]]
    apply_phase(toy, 1)
    assert trainable(toy) == {"head.weight", "head.bias", "fc.weight", "fc.bias"}


def _run(frozen_bn_mode: str, epochs_head_only: int = 1):
    """Two epochs of a BatchNorm unified model on blobs images with AdamW (weight decay 0.5) and the callback:
    phase 0 in epoch 1, phase 1 in epoch 2 (3 groups). Returns the initial and the final state."""
    exp = {"seed": 0, "data": {"name": "blobs", "image_size": 8, "n_samples": 96, "val_fraction": 0.0,
                               "test_fraction": 0.25},
           "model": {"name": "unified_model", **{k: v for k, v in SMALL.items() if k != "num_classes"},
                     "batchnorm": True},
           "learning_rule": {"name": "backprop", "optimizer": "adamw", "lr": 0.05, "weight_decay": 0.5,
                             "decay_1d": True},
           "callbacks": [{"name": "progressive_unfreezing", "epochs_head_only": epochs_head_only,
                          "epochs_per_phase": 1, "frozen_bn_mode": frozen_bn_mode}],
           "trainer": {"epochs": 2, "batch_size": 24, "progress": "none", "plots": False, "checkpoint_every": 0,
                       "eval_every": 1}}
    from forwardkit.engine import Trainer

    trainer = Trainer(exp, write=False, verbose=False)
    trainer.build()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    return before, trainer.model.state_dict(), trainer.callbacks[0]


def test_frozen_tensors_stay_bit_identical_and_frozen_bn_keeps_its_statistics():
    before, after, cb = _run("eval")
    assert cb.phase == 2 and cb.epochs == 2  # phases 0 and 1 were trained; the epoch-2 end moved to phase 2
    for trunk in ("branch_a", "branch_b"):
        for layer in (0, 1):  # frozen throughout: weights, biases, BN affine and running statistics unchanged
            prefix = f"{trunk}.trunk.layers.{layer}."
            for key in [k for k in before if k.startswith(prefix)]:
                assert torch.equal(before[key], after[key]), key
        top = f"{trunk}.trunk.layers.2."  # trained in phase 1 (epoch 2)
        assert not torch.equal(before[top + "conv.weight"], after[top + "conv.weight"])
        assert not torch.equal(before[top + "bn.running_mean"], after[top + "bn.running_mean"])
    assert not torch.equal(before["head.fc1.weight"], after["head.fc1.weight"])


def test_frozen_bn_in_train_mode_updates_its_statistics_but_not_its_weights():
    before, after, _ = _run("train")
    key = "branch_a.trunk.layers.0."
    assert not torch.equal(before[key + "bn.running_mean"], after[key + "bn.running_mean"])
    assert torch.equal(before[key + "bn.weight"], after[key + "bn.weight"])
    assert torch.equal(before[key + "conv.weight"], after[key + "conv.weight"])


def test_parameters_frozen_before_the_run_stay_frozen():
    model = forwardkit.create("model", "unified_model", **SMALL)
    model.head.fc1.weight.requires_grad_(False)  # e.g. a stage's `freeze`
    cb = forwardkit.create("callback", "progressive_unfreezing", epochs_head_only=0, epochs_per_phase=1)
    ctx = RunContext(model=model)
    cb.on_fit_start(ctx)
    for _ in range(LAYERS):
        cb.on_epoch_end(ctx)
    assert trainable(model) == {n for n, _ in model.named_parameters()} - {"head.fc1.weight"}


def test_state_dict_resumes_the_phase():
    model = forwardkit.create("model", "unified_model", **SMALL)
    cb = forwardkit.create("callback", "progressive_unfreezing", epochs_head_only=1, epochs_per_phase=1)
    ctx = RunContext(model=model)
    cb.on_fit_start(ctx)
    assert cb.on_epoch_end(ctx) is True and cb.on_epoch_end(ctx) is True
    state = cb.state_dict()
    fresh_model = forwardkit.create("model", "unified_model", **SMALL)
    fresh = forwardkit.create("callback", "progressive_unfreezing", epochs_head_only=1, epochs_per_phase=1)
    fresh.load_state_dict(state)
    fresh.on_fit_start(RunContext(model=fresh_model))
    assert state == {"phase": 2, "epochs": 2} and trainable(fresh_model) == trainable(model) == expected(2)


def test_lr_decay_per_phase_scales_the_rate_of_each_phase():
    """Phase s trains at lr * decay**s: the builtin backprop logs the rate of every update."""
    model = forwardkit.create("model", "unified_model", **SMALL)
    cb = forwardkit.create("callback", "progressive_unfreezing", epochs_head_only=1, epochs_per_phase=1,
                           lr_decay_per_phase=0.5)
    ctx = RunContext(model=model)
    cb.on_fit_start(ctx)
    scales = [ctx.lr_scale]
    for _ in range(LAYERS):
        cb.on_epoch_end(ctx)
        scales.append(ctx.lr_scale)
    assert scales == [1.0, 0.5, 0.25, 0.125]
    rule = forwardkit.create("learning_rule", "backprop", lr=0.01, schedule="constant", warmup_steps=0)
    rule.setup(model, ctx)
    assert rule.current_lr(ctx) == pytest.approx(0.01 * 0.125)
