"""forwardkit.nn: feed-forward, heads, norms, activations, residual helpers, channels-last convs, ResNet blocks."""

from __future__ import annotations

from typing import get_args

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from forwardkit.builtin.config import Activation, Norm
from forwardkit.nn import (
    ACTIVATIONS,
    NORMS,
    BasicBlock,
    Bottleneck,
    ChannelsLastConv,
    Downsample,
    DropPath,
    FeedForward,
    MlpHead,
    PatchEmbed,
    RMSNorm,
    Scale,
    SquaredReLU,
    Stem,
    conv_output_size,
    make_activation,
    make_norm,
    optional_scale,
)


def test_names_match_the_builtin_config_literals():
    assert set(get_args(Activation)) == set(ACTIVATIONS)
    assert set(get_args(Norm)) == set(NORMS)
    for name in ACTIVATIONS:
        assert isinstance(make_activation(name), nn.Module)
    for name in NORMS:
        assert isinstance(make_norm(name, 4), nn.Module)


def test_factories_are_accepted_where_names_are():
    assert isinstance(make_activation(nn.Mish), nn.Mish)
    norm = make_norm(lambda d: nn.LayerNorm(d, elementwise_affine=False), 6)
    assert isinstance(norm, nn.LayerNorm) and norm.normalized_shape == (6,)
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("swishy")


def test_feed_forward_is_the_ffn_formula():
    torch.manual_seed(0)
    ffn = FeedForward(dim=6, mlp_ratio=2.0, act="squaredrelu").eval()
    assert ffn.fc1.weight.shape == (12, 6) and ffn.fc2.weight.shape == (6, 12)
    x = torch.randn(2, 3, 4, 6)
    expected = F.linear(F.relu(F.linear(x, ffn.fc1.weight, ffn.fc1.bias)) ** 2, ffn.fc2.weight, ffn.fc2.bias)
    torch.testing.assert_close(ffn(x), expected)
    wide = FeedForward(dim=6, hidden_dim=5, out_dim=3, act=nn.Tanh, bias=False)
    assert wide(x).shape == (2, 3, 4, 3) and wide.fc1.bias is None and isinstance(wide.act, nn.Tanh)
    assert [n for n, _ in wide.named_parameters()] == ["fc1.weight", "fc2.weight"]


def test_mlp_head():
    head = MlpHead(dim=8, num_classes=3, dropout=0.1)
    assert isinstance(head.act, SquaredReLU) and head.fc1.weight.shape == (32, 8)
    assert head(torch.randn(5, 8)).shape == (5, 3)


def test_residual_helpers_are_keyword_only():
    with pytest.raises(TypeError):
        DropPath(0.5)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Scale(4)  # type: ignore[misc]
    scale = Scale(dim=4, init_value=0.5, trainable=False)
    assert not scale.scale.requires_grad
    torch.testing.assert_close(scale(torch.ones(2, 4)), torch.full((2, 4), 0.5))
    assert isinstance(optional_scale(4, None), nn.Identity) and isinstance(optional_scale(4, 1.0), Scale)
    assert isinstance(make_norm("rmsnorm", 4), RMSNorm)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 1, 1), (3, 2, 1), (4, 4, 0), (7, 4, 2), (2, 2, 0)])
def test_channels_last_conv_output_size_matches_its_output(rank, kernel, stride, padding):
    conv = ChannelsLastConv(rank=rank, in_dim=2, out_dim=3, kernel_size=kernel, stride=stride, padding=padding)
    for size in (7, 9, 12):
        spatial = (size,) * (rank - 1) + (size + 1,)
        y = conv(torch.randn(1, *spatial, 2))
        assert tuple(y.shape[1:-1]) == conv.output_size(spatial) and y.shape[-1] == 3
    assert conv.output_size((None,) * rank) == (None,) * rank


def test_conv_output_size_formula():
    assert conv_output_size(32, kernel_size=7, stride=4, padding=2) == 8
    assert conv_output_size(2, kernel_size=7, stride=4, padding=2) == 0  # too small: no output
    assert conv_output_size(None, kernel_size=3) is None


def test_patch_embed_stem_and_downsample_geometry():
    embed = PatchEmbed(rank=2, in_channels=3, dim=8, patch_size=4, norm="layernorm")
    x = torch.randn(2, 16, 12, 3)
    assert embed(x).shape == (2, 4, 3, 8) and embed.output_size((16, 12)) == (4, 3)
    assert sorted(PatchEmbed(rank=2, in_channels=3, dim=8, patch_size=4).state_dict()) == ["conv.bias", "conv.weight"]
    torch.testing.assert_close(embed(x), embed.norm(embed.conv(x.movedim(-1, 1)).movedim(1, -1)))
    stem = Stem(rank=1, in_channels=5, dim=8, kernel_size=7, stride=4)
    assert stem(torch.randn(2, 33, 5)).shape[1:-1] == stem.output_size((33,))
    ids = Stem(rank=1, in_channels=1, dim=8, kernel_size=3, stride=2, vocab_size=10)
    assert ids.output_size((17,)) == (17,) and ids(torch.randint(0, 10, (2, 17))).shape == (2, 17, 8)
    down = Downsample(rank=3, in_dim=8, out_dim=4, kernel_size=3, stride=2)
    assert down(torch.randn(1, 3, 5, 6, 8)).shape == (1, *down.output_size((3, 5, 6)), 4)


def test_resnet_blocks():
    torch.manual_seed(0)
    basic = BasicBlock(in_channels=4, out_channels=8, stride=2, norm="groupnorm", groups=4)
    assert basic(torch.randn(2, 4, 8, 8)).shape == (2, 8, 4, 4) and isinstance(basic.shortcut, nn.Sequential)
    assert isinstance(BasicBlock(in_channels=4, out_channels=4).shortcut, nn.Identity)
    bottleneck = Bottleneck(in_channels=16, width=4, stride=2)
    assert bottleneck(torch.randn(2, 16, 8, 8)).shape == (2, 16, 4, 4)
    assert bottleneck.conv2.stride == (2, 2) and bottleneck.conv1.stride == (1, 1)
    paper = Bottleneck(in_channels=16, width=4, stride=2, stride_on_3x3=False, norm="identity")
    assert paper.conv1.stride == (2, 2) and paper.conv2.stride == (1, 1) and paper.conv1.bias is not None
    assert isinstance(Bottleneck(in_channels=16, width=4).shortcut, nn.Identity)  # 4 * 4 = 16 channels
    names = [n for n, _ in bottleneck.named_children()]
    assert names == ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "shortcut"]
    # a zeroed residual branch leaves relu(shortcut(x))
    block = Bottleneck(in_channels=16, width=4).eval()
    nn.init.zeros_(block.bn3.weight)
    x = torch.randn(1, 16, 5, 5)
    torch.testing.assert_close(block(x), F.relu(x))
