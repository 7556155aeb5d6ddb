"""The rule (labels unused, masks uniform and distinct, bad num_masked named) and the transfer (card test 7: the
classifier's stem on a whole image equals P's trunk on it, by the adapter, the functional form and the stages'
carry alike)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from forwardkit_selfie.rule import sample_masked
from forwardkit_selfie.transfer import transfer_patch_net
from safetensors.torch import load_file, save_file

import forwardkit
from forwardkit.errors import ConfigError, ForwardkitError
from forwardkit.interfaces.context import RunContext

PRE = {"name": "selfie_pretrainer", "embed_dim": 16, "pool_layers": 1, "pool_heads": 2, "in_channels": 1}
CLS = {"name": "selfie_classifier", "embed_dim": 16, "head_widths": [16], "in_channels": 1, "num_classes": 10}


def test_masks_are_distinct_and_cover_every_location():
    g = torch.Generator().manual_seed(0)
    m = sample_masked(2000, 16, 4, g)
    assert all(len(set(row)) == 4 for row in m.tolist())
    counts = torch.bincount(m.flatten(), minlength=16).float()
    assert float(counts.min()) > 0.8 * 500 and float(counts.max()) < 1.2 * 500  # uniform: 8000 / 16 each


def test_the_rule_never_reads_labels_and_learns():
    torch.manual_seed(0)
    model = forwardkit.build_model(PRE)
    rule = forwardkit.create("learning_rule", "selfie_rule", num_masked=4, lr=3e-3, mask_seed=0)
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    x = torch.rand(16, 28, 28, 1)
    first = rule.step({"x": x}, ctx)  # no "y" in the batch
    for _ in range(25):
        last = rule.step({"x": x}, ctx)
    assert first["loss"] > last["loss"] and 0.0 <= last["pretext_top1"] <= 1.0


def test_num_masked_is_checked_against_the_grid():
    model = forwardkit.build_model(PRE)
    rule = forwardkit.create("learning_rule", "selfie_rule", num_masked=16)
    with pytest.raises(ConfigError, match="num_masked"):
        rule.setup(model, RunContext(model=model))
    with pytest.raises(ConfigError, match="num_masked"):
        forwardkit.create("learning_rule", "selfie_rule", num_masked=1)
    with pytest.raises(ForwardkitError, match="selfie_pretrainer"):
        rule.setup(forwardkit.build_model(CLS), RunContext(model=forwardkit.build_model(CLS)))


def _trained_pretrainer():
    torch.manual_seed(0)
    pre = forwardkit.build_model(PRE)
    with torch.no_grad():  # move the BatchNorm statistics away from their defaults
        pre.train()
        pre.embed_patches(torch.rand(8, 32, 32, 1) * 3)
    return pre.eval()


def _stem_equals_trunk(pre, cls):
    x = torch.rand(2, 28, 28, 1)
    cls.eval()
    with torch.no_grad():
        img = torch.nn.functional.pad(x.permute(0, 3, 1, 2), (2, 2, 2, 2))
        return torch.equal(cls.stem_features(x), pre.patch_net.trunk(img))


def test_transfer_copies_the_patch_network_exactly(tmp_path: Path):
    pre = _trained_pretrainer()
    torch.manual_seed(1)
    cls = forwardkit.build_model(CLS)
    assert not _stem_equals_trunk(pre, cls)
    # the functional form
    assert _stem_equals_trunk(pre, transfer_patch_net(pre, forwardkit.build_model(CLS)))
    # the adapter, from a saved state, frozen
    path = tmp_path / "pre.safetensors"
    save_file({k: v.contiguous() for k, v in pre.state_dict().items()}, str(path))
    adapter = forwardkit.create("adapter", "transfer_patch_net", checkpoint=str(path), freeze=True)
    new = adapter.apply(cls)
    assert _stem_equals_trunk(pre, new) and not _stem_equals_trunk(pre, cls)  # a copy; the given model is unchanged
    frozen = {n for n, p in new.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in new.named_parameters() if n.startswith("patch_net.")} and frozen


def test_transfer_refuses_a_mismatched_source(tmp_path: Path):
    other = forwardkit.build_model({**PRE, "embed_dim": 8})
    path = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(path))
    with pytest.raises(ForwardkitError, match="does not fit the stem"):
        forwardkit.create("adapter", "transfer_patch_net", checkpoint=str(path)).apply(forwardkit.build_model(CLS))
    with pytest.raises(ForwardkitError, match="cannot be read"):
        forwardkit.create("adapter", "transfer_patch_net", checkpoint=str(tmp_path / "none")).apply(
            forwardkit.build_model(CLS))


def test_the_stages_carry_is_the_same_copy(tmp_path: Path):
    """carry: {include: [patch_net]} from a pretrainer stage starts the classifier stage from P's weights (the
    core's multi-stage run, 2 steps per stage on blobs images; the stem frozen, so it must still hold them)."""
    data = {"name": "blobs", "image_size": 8, "n_samples": 64, "val_fraction": 0.0, "test_fraction": 0.25}
    small_pre = {"name": "selfie_pretrainer", "embed_dim": 8, "pool_layers": 1, "pool_heads": 2, "patch_size": 4,
                 "grid": 2}
    small_cls = {"name": "selfie_classifier", "embed_dim": 8, "head_widths": [8], "pad_to": None}
    trainer = {"epochs": 1, "max_steps": 2, "batch_size": 16, "progress": "none", "plots": False, "eval_every": 0,
               "test_at_end": False, "checkpoint_every": 0}
    exp = {"name": "carry", "seed": 0,
           "base": {"data": data, "model": small_pre, "learning_rule": {"name": "selfie_rule", "num_masked": 2},
                    "trainer": trainer},
           "stages": [{"name": "pretrain"},
                      {"name": "finetune", "model": small_cls, "learning_rule": {"name": "backprop"},
                       "carry": {"include": ["patch_net"]}, "freeze": ["patch_net.*"]}]}
    result = forwardkit.run_stages(exp, run_dir=tmp_path / "run", verbose=False)
    cls = result.model
    assert cls is not None and type(cls).__name__ == "SelfieClassifier"
    pre = load_file(str(tmp_path / "run" / "00-pretrain" / "final" / "model.safetensors"))
    params = dict(cls.named_parameters())
    stem = [n for n in params if n.startswith("patch_net.")]
    assert stem and all(torch.equal(params[n].detach(), pre[n]) for n in stem)
    torch.manual_seed(5)
    fresh = forwardkit.build_model({**small_cls, "in_channels": 1, "num_classes": 2})
    assert not torch.equal(dict(fresh.named_parameters())[stem[0]].detach(), pre[stem[0]])
