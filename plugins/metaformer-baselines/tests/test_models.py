"""The five presets: they build the builtin metaformer with the paper's settings (param counts of the
official code), the block's ResScale, the two block norms, and training through the trainer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from forwardkit_metaformer_baselines.model import PRESET_CLASSES, build_preset
from forwardkit_metaformer_baselines.random_mixing import RandomMixing

import forwardkit
from forwardkit.nn import GroupNorm1, MetaFormerBlock, Scale

# trainable parameters of the official code (sail-sg/metaformer) with 1000 classes, counted for the card
OFFICIAL_COUNTS = [
    ("identityformer", "s12", 11.892e6),
    ("poolformerv2", "s12", 11.892e6),
    ("randformer", "s12", 11.892e6),
    ("convformer", "s18", 26.774e6),
    ("caformer", "s18", 26.342e6),
    ("identityformer", "m48", 73.346e6),
    ("caformer", "b36", 98.754e6),
]


def _meta(preset: str, **fields: object) -> torch.nn.Module:
    with torch.device("meta"):  # no memory, no init cost
        return build_preset(preset, num_classes=1000, **fields)


@pytest.mark.parametrize(("preset", "size", "want"), OFFICIAL_COUNTS)
def test_parameter_counts_match_the_official_code(preset: str, size: str, want: float) -> None:
    fields = {"image_size": 224} if preset == "randformer" else {}
    model = _meta(preset, size=size, **fields)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert abs(trainable - want) / want < 1e-3


def test_randformer_s12_has_exactly_the_frozen_matrices_of_the_paper() -> None:
    model = _meta("randformer", size="s12", image_size=224)
    mixers = [m for m in model.modules() if isinstance(m, RandomMixing)]
    assert sum(m.matrix.numel() for m in mixers) == 6 * 196**2 + 2 * 49**2 == 235_298
    assert all(not p.requires_grad for m in mixers for p in m.buffers())
    assert all(list(m.parameters()) == [] for m in mixers)


def test_res_scale_only_in_stages_3_and_4_starting_at_one() -> None:
    model = forwardkit.create("model", "poolformerv2")
    for i, stage in enumerate(model.backbone.stages):
        for block in stage.blocks:
            has = isinstance(block.res_scale1, Scale) and isinstance(block.res_scale2, Scale)
            assert has == (i >= 2)
            if has:
                assert torch.equal(block.res_scale1.scale, torch.ones(block.res_scale1.scale.shape))
            assert not isinstance(block.layer_scale1, Scale)


def test_block_with_zeroed_branches_returns_the_res_scaled_shortcut() -> None:
    model = forwardkit.create("model", "convformer")
    block: MetaFormerBlock = model.backbone.stages[3].blocks[0]
    with torch.no_grad():
        block.token_mixer.pwconv2.weight.zero_()
        block.channel_mixer.fc2.weight.zero_()
        block.res_scale1.scale.uniform_(0.5, 1.5)
        block.res_scale2.scale.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 3, 64)
    torch.testing.assert_close(block(x), x * block.res_scale1.scale * block.res_scale2.scale)


def test_block_norms_modified_ln_and_channel_ln() -> None:
    shallow = forwardkit.create("model", "identityformer").backbone.stages[0].blocks[0].norm1
    deep = forwardkit.create("model", "caformer").backbone.stages[0].blocks[0].norm1
    x = torch.randn(2, 5, 6, 16)
    with torch.no_grad():
        shallow.weight.uniform_(0.5, 1.5)
        deep.weight.uniform_(0.5, 1.5)
    assert isinstance(shallow, GroupNorm1)
    gn = F.group_norm(x.permute(0, 3, 1, 2), 1, shallow.weight, None, eps=1e-6).permute(0, 2, 3, 1)
    torch.testing.assert_close(shallow(x), gn, atol=1e-5, rtol=1e-5)
    assert deep.bias is None
    torch.testing.assert_close(deep(x), F.layer_norm(x, (16,), deep.weight, None, eps=1e-6))


def test_presets_fill_the_stages_as_the_paper() -> None:
    mixers = {
        name: [type(s.blocks[0].token_mixer).__name__ for s in forwardkit.create("model", name).backbone.stages]
        for name in PRESET_CLASSES
    }
    assert mixers["identityformer"] == ["Identity"] * 4
    assert mixers["randformer"] == ["Identity", "Identity", "RandomMixing", "RandomMixing"]
    assert mixers["poolformerv2"] == ["Pooling"] * 4
    assert mixers["convformer"] == ["SepConv"] * 4
    assert mixers["caformer"] == ["SepConv", "SepConv", "Attention", "Attention"]
    head = forwardkit.create("model", "convformer", size="s18", num_classes=5).backbone.head
    assert type(head).__name__ == "MlpHead"


def test_tiny_presets_train_through_the_trainer_on_digits() -> None:
    for name in ("randformer", "caformer"):
        result = forwardkit.run(
            {
                "data": {"name": "digits"},
                "model": {"name": name, "stem_stride": 1},
                "trainer": {"max_steps": 3, "batch_size": 16, "progress": "none", "plots": False},
            },
            write=False,
            verbose=False,
        )
        assert result.steps == 3 and result.model.backbone.config.in_channels == 1
        assert result.model.backbone.config.num_classes == 10
