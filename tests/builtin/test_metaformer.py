"""The builtin MetaFormer: stages, per-stage mixers, scales, drop path, norms, head, errors, gradients."""

from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import forwardkit
from forwardkit import registry as registry_module
from forwardkit.builtin.channel import MLP
from forwardkit.builtin.config import IdentityConfig
from forwardkit.builtin.metaformer import MetaFormer
from forwardkit.builtin.mixers import Attention, Identity
from forwardkit.interfaces import TokenMixer
from forwardkit.nn import DropPath, MetaFormerBlock, MetaFormerStage, Scale, drop_path_schedule, make_norm

DIMS = [8, 16, 24, 32]
ATT = {"name": "attention", "head_dim": 8}


def small(**overrides):
    spec = {"name": "metaformer", "depths": [1, 1, 2, 1], "dims": DIMS}
    spec.update(overrides)
    return forwardkit.build_model(spec)


# ---- whole model ------------------------------------------------------------------------------------
def test_four_stage_images_with_per_stage_mixers():
    model = small(token_mixers=["identity", "identity", ATT, ATT])
    assert isinstance(model, MetaFormer) and len(model.stages) == 4
    kinds = [type(stage.blocks[0].token_mixer) for stage in model.stages]
    assert kinds == [Identity, Identity, Attention, Attention]
    assert [len(stage.blocks) for stage in model.stages] == [1, 1, 2, 1]
    for stage, dim in zip(model.stages, DIMS, strict=True):
        assert all(isinstance(b.channel_mixer, MLP) and b.channel_mixer.dim == dim for b in stage.blocks)
    assert isinstance(model.stages[0].downsample, nn.Identity)
    assert model.stages[1].downsample.proj.conv.weight.shape == (16, 8, 3, 3)
    out = model(torch.randn(2, 32, 32, 3))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    batch = model.example_batch(3, generator=torch.Generator().manual_seed(0))
    assert batch["x"].shape == (3, 32, 32, 3) and batch["y"].dtype == torch.int64
    assert model(batch["x"]).shape == (3, 10)


def test_final_tokens_and_stem_geometry():
    # 32x32 -> stem k3 s2 -> 16 -> 8 -> 4 -> 2
    assert small(num_classes=0)(torch.randn(2, 32, 32, 3)).shape == (2, 2, 2, 32)
    # paper stem k7 s4 p2: 32 -> 8 -> 4 -> 2 -> 1
    paper = small(num_classes=0, stem_kernel=7, stem_stride=4)
    assert paper.stem.proj.conv.padding == (2, 2)
    assert paper(torch.randn(1, 32, 32, 3)).shape == (1, 1, 1, 32)


def test_sequences_rank1():
    model = small(rank=1, in_channels=5, token_mixers=["identity", "identity", ATT, ATT])
    assert isinstance(model.stem.proj.conv, nn.Conv1d)
    assert model(torch.randn(2, 64, 5)).shape == (2, 10)
    # 64 -> 32 -> 16 -> 8 -> 4 tokens
    assert small(rank=1, in_channels=5, num_classes=0)(torch.randn(2, 64, 5)).shape == (2, 4, 32)
    assert model(model.example_batch(2)["x"]).shape == (2, 10)


def test_token_ids_with_vocab_and_last_token_pooling():
    causal = {"name": "attention", "head_dim": 8, "causal": True}
    model = small(rank=1, vocab_size=50, depths=[2], dims=[16], token_mixers=causal, pool="last", num_classes=7)
    assert isinstance(model.stem.proj, nn.Embedding)
    ids = torch.randint(0, 50, (3, 20))
    assert model(ids).shape == (3, 7)
    assert model.example_batch(2)["x"].dtype == torch.int64
    # with one stage, an embedding stem and causal mixers, 'last' pooling sees the whole prefix only
    model.eval()
    changed = ids.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 50
    assert not torch.allclose(model(changed), model(ids))
    prefix = model(ids[:, :12])
    other_suffix = torch.cat([ids[:, :12], torch.randint(0, 50, (3, 8))], 1)
    tokens = model.forward_features(other_suffix)
    torch.testing.assert_close(model.forward_head(tokens[:, :12]), prefix)
    torch.testing.assert_close(model.forward_head(tokens), model.head(model.norm(tokens[:, -1])))


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        small()(torch.randn(2, 3, 32, 32, 1))
    with pytest.raises(ValueError, match="token ids"):
        small(rank=1, vocab_size=10)(torch.randn(2, 8, 3))


def test_mlp_head():
    model = small(head="mlp", head_dropout=0.1, num_classes=4)
    assert model.head.fc1.weight.shape == (128, 32) and model.head.fc2.weight.shape == (4, 128)
    assert model(torch.randn(2, 32, 32, 3)).shape == (2, 4)
    assert model.norm.bias is not None  # the final norm keeps its bias


def test_init_is_trunc_normal_with_zero_biases():
    model = small(dims=[64, 64, 64, 64], depths=[1, 1, 1, 1])
    linears = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert all(m.bias is None or m.bias.abs().max() == 0 for m in linears)
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert abs(weights.std().item() - 0.02) < 0.002


# ---- residual scales ----------------------------------------------------------------------------------
def test_res_scale_and_layer_scale_exist_only_where_configured():
    model = small(res_scale_init=[None, None, 1.0, 0.5], layer_scale_init=[1e-5, None, None, None])
    for i, stage in enumerate(model.stages):
        for block in stage.blocks:
            for name in ("res_scale1", "res_scale2"):
                scale = getattr(block, name)
                assert isinstance(scale, Scale) == (i >= 2)
                if i >= 2:
                    torch.testing.assert_close(scale.scale.data, torch.full((DIMS[i],), [1.0, 0.5][i - 2]))
            for name in ("layer_scale1", "layer_scale2"):
                scale = getattr(block, name)
                assert isinstance(scale, Scale) == (i == 0)
                if i == 0:
                    torch.testing.assert_close(scale.scale.data, torch.full((DIMS[0],), 1e-5))
    names = [n for n, _ in model.named_parameters()]
    assert sum("res_scale" in n for n in names) == 2 * 3  # stages 3 (2 blocks) and 4 (1 block)
    assert sum("layer_scale" in n for n in names) == 2
    assert not any("scale" in n for n in (n for n, _ in small().named_parameters()))


def _block_with_zero_mlp(**kwargs):
    dim = 6
    mlp = MLP(dim=dim)
    nn.init.zeros_(mlp.fc2.weight)
    nn.init.zeros_(mlp.fc2.bias)
    return MetaFormerBlock(dim=dim, token_mixer=Identity(dim=dim), channel_mixer=mlp, **kwargs)


def test_res_scale_multiplies_the_shortcut():
    torch.manual_seed(0)
    block = _block_with_zero_mlp(res_scale_init=1.0, norm="groupnorm1")
    rs1, rs2 = torch.rand(6) + 0.5, torch.rand(6) + 0.5
    block.res_scale1.scale.data.copy_(rs1)
    block.res_scale2.scale.data.copy_(rs2)
    x = torch.randn(2, 3, 4, 6)
    # token branch: rs1 * x + norm1(x); channel branch is zero: rs2 * (...)
    torch.testing.assert_close(block(x), rs2 * (rs1 * x + block.norm1(x)))
    # with LayerScale 0 on the branches the block is exactly rs * x
    quiet = _block_with_zero_mlp(res_scale_init=1.0, layer_scale_init=0.0)
    quiet.res_scale1.scale.data.copy_(rs1)
    quiet.res_scale2.scale.data.copy_(rs2)
    torch.testing.assert_close(quiet(x), rs1 * rs2 * x)


def test_layer_scale_multiplies_the_branch():
    block = _block_with_zero_mlp(layer_scale_init=0.25)
    x = torch.randn(2, 5, 6)
    torch.testing.assert_close(block(x), x + 0.25 * block.norm1(x))


# ---- drop path ----------------------------------------------------------------------------------------
def test_drop_path_is_per_sample_and_only_in_training():
    torch.manual_seed(0)
    dp = DropPath(p=0.5)
    x = torch.ones(400, 3, 4)
    dp.train()
    out = dp(x)
    per_sample = out.flatten(1)
    assert torch.all((per_sample == 0).all(1) | (per_sample == 2.0).all(1))  # whole samples kept (x 1/keep) or dropped
    assert 0.35 < (per_sample[:, 0] == 0).float().mean() < 0.65
    dp.eval()
    assert torch.equal(dp(x), x)


def test_drop_path_schedule_and_model_modes():
    assert drop_path_schedule(0.3, [1, 2, 1]) == [[0.0], pytest.approx([0.1, 0.2]), pytest.approx([0.3])]
    model = small(drop_path_rate=0.5, token_mixers="identity")
    rates = [b.drop_path.p for s in model.stages for b in s.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.5) and rates == sorted(rates)
    x = torch.randn(8, 32, 32, 3)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    torch.manual_seed(1)
    first = model(x)
    assert not torch.allclose(first, model(x))


# ---- norms --------------------------------------------------------------------------------------------
def test_groupnorm1_equals_group_norm_with_one_group():
    torch.manual_seed(0)
    norm = make_norm("groupnorm1", 6, eps=1e-6)
    assert [n for n, _ in norm.named_parameters()] == ["weight"]  # no bias
    norm.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(3, 4, 5, 6) * 3 + 1
    expected = F.group_norm(x.movedim(-1, 1), 1, norm.weight, None, 1e-6).movedim(1, -1)
    torch.testing.assert_close(norm(x), expected)
    # and it differs from LayerNorm over C alone
    assert not torch.allclose(norm(x), F.layer_norm(x, (6,), norm.weight, None, 1e-6))


def test_layernorm_variants():
    torch.manual_seed(0)
    x = torch.randn(2, 7, 6)
    nobias = make_norm("layernorm_nobias", 6, eps=1e-6)
    assert nobias.bias is None
    nobias.weight.data.uniform_(0.5, 1.5)
    torch.testing.assert_close(nobias(x), F.layer_norm(x, (6,), nobias.weight, None, 1e-6))
    withbias = make_norm("layernorm", 6)
    assert withbias.bias is not None


def test_batchnorm_and_rmsnorm_channels_last():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 6) * 2 + 1
    bn = make_norm("batchnorm", 6, eps=1e-5).train()
    expected = F.batch_norm(x.movedim(-1, 1), None, None, bn.weight, bn.bias, training=True, eps=1e-5).movedim(1, -1)
    torch.testing.assert_close(bn(x), expected)
    rms = make_norm("rmsnorm", 6, eps=1e-6)
    torch.testing.assert_close(rms(x), x / x.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt())
    assert isinstance(make_norm("identity", 6), nn.Identity)
    with pytest.raises(ValueError, match="unknown norm"):
        make_norm("bogus", 6)


def test_per_stage_norm_names():
    model = small(norm=["groupnorm1", "groupnorm1", "layernorm_nobias", "rmsnorm"])
    kinds = [type(s.blocks[0].norm1).__name__ for s in model.stages]
    assert kinds == ["GroupNorm1", "GroupNorm1", "LayerNorm", "RMSNorm"]
    assert model(torch.randn(1, 32, 32, 3)).shape == (1, 10)


# ---- reuse by plugins and errors ------------------------------------------------------------------------
def test_stage_is_reusable_with_plain_modules():
    stage = MetaFormerStage(
        dim=8,
        depth=3,
        token_mixer=lambda: Identity(dim=8),
        channel_mixer=lambda: MLP(dim=8),
        norm=lambda d: nn.LayerNorm(d),
        res_scale_init=1.0,
        drop_path=[0.0, 0.1, 0.2],
    )
    assert [b.drop_path.p for b in stage.blocks] == [0.0, 0.1, 0.2]
    assert stage(torch.randn(2, 4, 4, 8)).shape == (2, 4, 4, 8)


class ImagesOnly(TokenMixer):
    Config = IdentityConfig
    ranks = frozenset({2})

    def forward(self, x):
        return x


@pytest.fixture
def images_only_registry(monkeypatch):
    module = types.ModuleType("fk_test_images_only")
    module.ImagesOnly = ImagesOnly
    monkeypatch.setitem(sys.modules, "fk_test_images_only", module)

    def forwardkit_register(registry):
        registry.add("token_mixer", "images_only", target="fk_test_images_only:ImagesOnly")

    reg = registry_module.Registry.discover(entry_points=False)
    reg.load_plugin("testplugin", lambda: types.SimpleNamespace(forwardkit_register=forwardkit_register))
    monkeypatch.setattr(registry_module, "_default", reg)
    return reg


def test_mixer_of_the_wrong_rank_is_a_clear_error(images_only_registry):
    assert small(token_mixers="images_only")(torch.randn(1, 32, 32, 3)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"stage 1: token mixer 'images_only' supports spatial ranks \[2\].*rank-1"):
        small(rank=1, token_mixers=["identity", "images_only", "identity", "identity"])


# ---- gradients ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_gradients_reach_every_parameter(head):
    torch.manual_seed(0)
    model = small(
        token_mixers=["identity", "identity", ATT, {"name": "attention", "head_dim": 8, "qkv_bias": True}],
        norm=["groupnorm1", "groupnorm1", "layernorm_nobias", "layernorm"],
        res_scale_init=[None, None, 1.0, 1.0],
        layer_scale_init=[1e-2, None, None, 1e-2],
        head=head,
    ).train()
    batch = model.example_batch(2)
    F.cross_entropy(model(batch["x"]), batch["y"]).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_mixers_get_the_fields_their_class_fills_for_the_models_rank():
    """A mixer whose config depends on the token rank through the legacy fields_for_rank (still honoured,
    with a DeprecationWarning, until the plugins move to fields_for_input) is built for the model's rank,
    unless the spec sets the field itself."""
    from typing import Any, ClassVar

    from forwardkit.config import TokenMixerConfig
    from forwardkit.registry import Registry

    class AxesConfig(TokenMixerConfig):
        axes: int = 2

    class Axes(TokenMixer):
        Config = AxesConfig
        ranks: ClassVar[frozenset[int]] = frozenset({1, 2})

        @classmethod
        def fields_for_rank(cls, rank: int) -> dict[str, Any]:
            return {"axes": rank}

        def forward(self, x):
            assert x.dim() - 2 == self.config.axes
            return x

    registry = Registry.discover(entry_points=False)
    registry.register_class("token_mixer", "axes_test", Axes)
    small = {"name": "metaformer", "depths": [1], "dims": [8], "num_classes": 2}
    for rank in (1, 2):
        model = forwardkit.build_model({**small, "rank": rank, "token_mixers": "axes_test"}, registry=registry)
        assert model.stages[0].blocks[0].token_mixer.config.axes == rank
    pinned = forwardkit.build_model({**small, "rank": 1, "token_mixers": {"name": "axes_test", "axes": 3}},
                                    registry=registry)
    assert pinned.stages[0].blocks[0].token_mixer.config.axes == 3
