"""The basis-transformation head (card "Tests"): orthogonality under training, the embedding's norm, f recoverable
from phi, output shapes, config validation, the cached eval path, the conv1x1 old branch."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from forwardkit_bt2.basis_transform import (
    BasisTransformHead,
    attach_basis_transform,
    basis_transform,
    find_head,
    recover_new_feature,
)
from forwardkit_bt2.config import BasisTransformHeadConfig

import forwardkit
from forwardkit.errors import ConfigError


def _head(**fields) -> BasisTransformHead:
    cfg = BasisTransformHeadConfig(**{"d_new": 6, "d_old": 5, "to_add": 3, "C": 2.0, **fields})
    torch.manual_seed(0)
    return BasisTransformHead(cfg, in_features=cfg.d_new + cfg.d_old, num_classes=4)


def test_rotations_stay_orthogonal_after_ten_large_steps():
    head = _head()
    opt = torch.optim.SGD(head.parameters(), lr=5.0)
    e = torch.randn(16, 11)
    for _ in range(10):
        out = head.parts(e)
        loss = out.logits.square().mean() + out.phi[:, :3].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for rot in head.rotations():
        eye = torch.eye(rot.shape[0])
        assert torch.allclose(rot @ rot.T, eye, atol=1e-5)
    assert not torch.allclose(head.rotations()[0], torch.eye(6), atol=1e-2)  # it did move


@pytest.mark.parametrize("C", [0.5, 2.0, 3.0])
def test_phi_has_norm_sqrt_one_plus_c_squared(C):
    head = _head(C=C)
    phi = head.parts(torch.randn(32, 11) * 5).phi
    assert torch.allclose(phi.norm(dim=1), torch.full((32,), math.sqrt(1 + C * C)), atol=1e-5)


def test_f_is_recoverable_from_phi():
    head = _head()
    out = head.parts(torch.randn(20, 11))
    rot_p, rot_old = head.rotations()
    f = recover_new_feature(out.phi, rot_p, rot_old, to_add=3, d_old=5, C=2.0)
    assert (f - out.f).abs().max() < 1e-5


def test_output_shapes():
    head = _head()
    out = head.parts(torch.randn(7, 11))
    assert out.bct.shape == (7, 5) and out.f.shape == (7, 6) and out.phi.shape == (7, 6 + 3)
    assert out.logits.shape == (7, 4)
    _, extra, _ = basis_transform(torch.randn(7, 5), out.f, *head.rotations(), to_add=3, d_old=5, C=2.0)
    assert extra.shape == (7, 6 + 3 - 5)
    assert head.embed_dim == 9


def test_config_requires_u_to_cover_the_old_space_and_warns_when_k_exceeds_d_old():
    with pytest.raises(ValueError, match=r"d_new \+ to_add"):
        BasisTransformHeadConfig(d_new=4, d_old=8, to_add=3)
    with pytest.raises(ConfigError, match="d_new"):
        forwardkit.create("adapter", "basis_transform_head", d_new=4, d_old=8, to_add=3)
    with pytest.warns(UserWarning, match="no coordinate of the new feature"):
        cfg = BasisTransformHeadConfig(d_new=8, d_old=4, to_add=6)
    head = BasisTransformHead(cfg, in_features=12, num_classes=3)
    out = head.parts(torch.randn(5, 12))
    assert out.phi.shape == (5, 14) and out.bct.shape == (5, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BasisTransformHeadConfig(d_new=8, d_old=4, to_add=4)


def test_cached_eval_matches_training_path_and_follows_weight_changes():
    head = _head()
    e = torch.randn(9, 11)
    head.eval()
    with torch.no_grad():
        cached = head.parts(e).phi
        assert head._eval_cache is not None
        again = head.parts(e).phi
    with torch.enable_grad():
        plain = head.parts(e).phi.detach()
    assert torch.equal(cached, again) and torch.allclose(cached, plain, atol=1e-6)
    with torch.no_grad():
        next(head.rot_p.parameters()).add_(0.3)  # an in-place change invalidates the cache
        moved = head.parts(e).phi
    with torch.enable_grad():
        fresh = head.parts(e).phi.detach()
    assert torch.allclose(moved, fresh, atol=1e-6) and not torch.allclose(moved, cached, atol=1e-3)


def test_conv1x1_old_branch_is_the_same_map_as_linear():
    lin, conv = _head(old_branch="linear"), _head(old_branch="conv1x1")
    state = {k: (v.reshape(v.shape[0], v.shape[1], 1, 1) if k == "old_branch.weight" else v)
             for k, v in lin.state_dict().items()}
    conv.load_state_dict(state)
    e = torch.randn(6, 11)
    assert torch.allclose(lin.parts(e).phi, conv.parts(e).phi, atol=1e-6)


def test_adapter_replaces_the_classifier_and_keeps_the_call_signature():
    model = forwardkit.build_model({"name": "bt2_cnn", "widths": [4], "embed_dim": 16, "num_classes": 7})
    x = torch.rand(3, 28, 28, 1)
    new = forwardkit.create("adapter", "basis_transform_head", d_new=8, d_old=8, to_add=2).apply(model)
    assert new is not model and new(x).shape == model(x).shape == (3, 7)
    head = find_head(new)
    assert head is not None and head.proj is None and head.last is not None and head.last.phi.shape == (3, 10)
    wide = attach_basis_transform(forwardkit.build_model({"name": "bt2_cnn", "widths": [4], "embed_dim": 5}),
                                  d_new=8, d_old=8, to_add=2)
    assert find_head(wide).proj is not None and wide(x).shape == (3, 10)
    with pytest.raises(ConfigError, match="head"):
        attach_basis_transform(model, head="features")
