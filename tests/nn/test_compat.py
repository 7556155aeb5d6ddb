"""The old builtin locations stay importable for one step: the same objects, or positional forms that build
bit-identical modules. (Plugins still import them until they move to forwardkit.nn / forwardkit.data.)"""

from __future__ import annotations

import torch

import forwardkit.builtin.data as builtin_data
import forwardkit.builtin.layers as layers
import forwardkit.builtin.metaformer as metaformer
import forwardkit.builtin.mixers as mixers
import forwardkit.builtin.resnet as resnet
import forwardkit.data as fkdata
import forwardkit.nn as fknn
from forwardkit.builtin.config import SplitConfig


def test_reexported_names_are_the_public_objects():
    for name in ("ACTIVATIONS", "NORMS", "ChannelsLastBatchNorm", "DropPath", "GroupNorm1", "RMSNorm", "Scale",
                 "SquaredReLU", "drop_path", "make_activation", "make_norm"):
        assert getattr(layers, name) is getattr(fknn, name), name
    for name in ("Downsample", "MetaFormerBlock", "MetaFormerStage", "MlpHead", "Stem", "check_ranks",
                 "drop_path_schedule", "init_weights"):
        assert getattr(metaformer, name) is getattr(fknn, name), name
    assert resnet.make_norm2d is fknn.make_norm2d
    assert mixers.attention is fknn.multi_head_attention and mixers.attention_scores is fknn.attention_scores
    for name in ("InMemoryDataset", "TensorSplit", "UnknownSplitError", "random_split", "split_sizes",
                 "stratified_split"):
        assert getattr(builtin_data, name) is getattr(fkdata, name), name
    assert SplitConfig is fkdata.SplitConfig


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return module.state_dict()


def test_positional_forms_build_the_same_modules():
    torch.manual_seed(0)
    old = resnet.BasicBlock(4, 8, stride=2)
    torch.manual_seed(0)
    new = fknn.BasicBlock(in_channels=4, out_channels=8, stride=2)
    assert isinstance(old, fknn.BasicBlock)
    assert all(torch.equal(a, b) for a, b in zip(_state(old).values(), _state(new).values(), strict=True))
    assert list(_state(old)) == list(_state(new))
    torch.manual_seed(0)
    conv = metaformer.ChannelsLastConv(2, 3, 8, 4, 4, 0)
    torch.manual_seed(0)
    public = fknn.ChannelsLastConv(rank=2, in_dim=3, out_dim=8, kernel_size=4, stride=4)
    assert list(_state(conv)) == list(_state(public)) == ["conv.weight", "conv.bias"]
    assert all(torch.equal(a, b) for a, b in zip(_state(conv).values(), _state(public).values(), strict=True))


def test_old_split_heads_is_project_qkv():
    x, w, b = torch.randn(2, 5, 6), torch.randn(24, 6), torch.randn(24)
    for old, new in zip(mixers.split_heads(x, w, b, 2), fknn.project_qkv(x, w, b, num_heads=2), strict=True):
        assert torch.equal(old, new)


def test_builtin_mixers_are_the_public_blocks():
    import forwardkit

    torch.manual_seed(0)
    attention = forwardkit.create("token_mixer", "attention", dim=16, head_dim=4, causal=True).eval()
    assert isinstance(attention, fknn.MultiHeadAttention)
    block = fknn.MultiHeadAttention(dim=16, head_dim=4, causal=True).eval()
    block.load_state_dict(attention.state_dict())
    x = torch.randn(2, 3, 4, 16)
    assert torch.equal(attention(x), block(x))
    mlp = forwardkit.create("channel_mixer", "mlp", dim=16, mlp_ratio=2.0, act="silu")
    assert isinstance(mlp, fknn.FeedForward)
    ffn = fknn.FeedForward(dim=16, mlp_ratio=2.0, act="silu")
    ffn.load_state_dict(mlp.state_dict())
    assert torch.equal(mlp(x), ffn(x))
