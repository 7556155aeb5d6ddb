"""Builtin token and channel mixers: shapes, permutation equivariance, causality, functional form."""

from __future__ import annotations

import math

import pytest
import torch

import forwardkit
from forwardkit.builtin.channel import MLP
from forwardkit.builtin.mixers import Attention, Identity, attention


def reference_attention(x: torch.Tensor, m: Attention, causal: bool) -> torch.Tensor:
    """Eq. 1-2 of Vaswani et al. written out with explicit softmax, head by head."""
    shape = x.shape
    t = x.reshape(shape[0], -1, shape[-1])
    n, h, d = t.shape[1], m.num_heads, m.head_dim
    q, k, v = m.qkv(t).split(h * d, dim=-1)
    heads = []
    for i in range(h):
        sl = slice(i * d, (i + 1) * d)
        scores = q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(d)
        if causal:
            scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        heads.append(scores.softmax(-1) @ v[..., sl])
    return m.proj(torch.cat(heads, -1)).reshape(shape)


@pytest.mark.parametrize("shape", [(2, 8, 8, 64), (2, 16, 64), (2, 2, 4, 4, 64)])
def test_attention_preserves_shape_for_every_rank(shape):
    mixer = forwardkit.create("token_mixer", "attention", dim=64)
    assert isinstance(mixer, Attention) and mixer.ranks == {1, 2, 3}
    x = torch.randn(shape)
    out = mixer(x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    assert not torch.allclose(out, x)


def test_attention_heads_and_inner_dim():
    default = Attention(dim=64)
    assert default.num_heads == 2 and default.head_dim == 32
    # C not a multiple of head_dim: heads = max(48 // 32, 1) = 1, inner = 32, projected back to 48
    odd = Attention(dim=48)
    assert odd.num_heads == 1
    assert odd.qkv.weight.shape == (3 * 32, 48) and odd.proj.weight.shape == (48, 32)
    assert odd(torch.randn(2, 5, 48)).shape == (2, 5, 48)
    small = Attention(dim=8, head_dim=32)
    assert small.num_heads == 1 and small.proj.weight.shape == (8, 32)
    explicit = Attention(dim=64, num_heads=4, head_dim=8)
    assert explicit.qkv.weight.shape == (3 * 32, 64)


@pytest.mark.parametrize("shape", [(2, 12, 32), (2, 3, 4, 32)])
def test_attention_matches_written_out_equations(shape):
    torch.manual_seed(0)
    for causal in (False, True):
        m = Attention(dim=32, head_dim=8, qkv_bias=True, causal=causal).eval()
        x = torch.randn(shape)
        torch.testing.assert_close(m(x), reference_attention(x, m, causal), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("shape", [(2, 10, 32), (2, 3, 5, 32)])
def test_attention_is_equivariant_to_token_permutations(shape):
    torch.manual_seed(0)
    m = Attention(dim=32, head_dim=8).eval()
    x = torch.randn(shape)
    perm = torch.randperm(math.prod(shape[1:-1]))
    permute = lambda t: t.reshape(shape[0], -1, shape[-1])[:, perm].reshape(shape)
    torch.testing.assert_close(m(permute(x)), permute(m(x)), atol=1e-5, rtol=1e-4)


def test_causal_attention_ignores_the_future():
    torch.manual_seed(0)
    causal = Attention(dim=32, head_dim=8, causal=True).eval()
    full = Attention(dim=32, head_dim=8).eval()
    full.load_state_dict(causal.state_dict())
    assert causal.causal is True and full.causal is False
    x = torch.randn(2, 12, 32)
    for t in (0, 4, 10):
        y = x.clone()
        y[:, t + 1 :] = torch.randn_like(y[:, t + 1 :])
        torch.testing.assert_close(causal(y)[:, : t + 1], causal(x)[:, : t + 1])
        assert not torch.allclose(causal(y)[:, t + 1 :], causal(x)[:, t + 1 :])
        # the same weights without the mask do see the change (so this test can fail)
        assert not torch.allclose(full(y)[:, : t + 1], full(x)[:, : t + 1])


def test_causal_attention_on_images_uses_flattened_order():
    torch.manual_seed(0)
    m = Attention(dim=16, head_dim=8, causal=True).eval()
    x = torch.randn(1, 4, 4, 16)
    y = x.clone()
    y[:, 2, 1:] += 1.0  # tokens 9.. in row-major order
    torch.testing.assert_close(m(y)[:, :2], m(x)[:, :2])
    torch.testing.assert_close(m(y)[:, 2, :1], m(x)[:, 2, :1])


def test_functional_form_equals_module():
    fn = forwardkit.functional("token_mixer", "attention")
    assert fn is attention
    torch.manual_seed(0)
    m = Attention(dim=40, head_dim=16, qkv_bias=True, causal=True, attn_drop=0.5).eval()
    x = torch.randn(2, 3, 5, 40)
    out = fn(
        x,
        m.qkv.weight,
        m.proj.weight,
        num_heads=m.num_heads,
        qkv_bias=m.qkv.bias,
        proj_bias=m.proj.bias,
        causal=True,
    )
    torch.testing.assert_close(out, m(x))


def test_attention_dropout_only_in_training():
    torch.manual_seed(0)
    m = Attention(dim=32, head_dim=8, attn_drop=0.5)
    x = torch.randn(2, 16, 32)
    m.train()
    assert not torch.allclose(m(x), m(x))
    m.eval()
    torch.testing.assert_close(m(x), m(x))


def test_identity_mixer():
    mixer = forwardkit.create("token_mixer", "identity", dim=8)
    assert isinstance(mixer, Identity) and mixer.causal is True
    x = torch.randn(2, 3, 4, 8)
    assert mixer(x) is x


def test_mlp_channel_mixer():
    mlp = forwardkit.create("channel_mixer", "mlp", dim=12, mlp_ratio=2.5)
    assert isinstance(mlp, MLP) and mlp.fc1.weight.shape == (30, 12) and mlp.fc2.weight.shape == (12, 30)
    assert MLP(dim=12, hidden_dim=7).fc1.out_features == 7
    x = torch.randn(2, 4, 5, 12)
    expected = mlp.fc2(torch.nn.functional.gelu(mlp.fc1(x)))
    torch.testing.assert_close(mlp(x), expected)
    # pointwise: changing one token changes only that token's output
    y = x.clone()
    y[:, 1, 2] += 1.0
    diff = (mlp(y) - mlp(x)).abs().sum(-1)
    assert diff[:, 1, 2].min() > 0
    diff[:, 1, 2] = 0
    assert diff.max() == 0


def test_attention_scores_give_the_weights_attention_uses():
    import torch

    import forwardkit as fk

    torch.manual_seed(0)
    for causal in (False, True):
        mixer = fk.create("token_mixer", "attention", dim=16, head_dim=8, causal=causal).eval()
        x = torch.randn(2, 5, 16)
        weights = mixer.attention_scores(x).softmax(-1)  # (B, h, N, N)
        assert weights.shape == (2, 2, 5, 5)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 5))
        if causal:
            assert torch.all(weights.triu(1) == 0)
        v = mixer.qkv(x)[..., 32:].reshape(2, 5, 2, 8).transpose(1, 2)  # (B, h, N, d)
        manual = mixer.proj((weights @ v).transpose(1, 2).reshape(2, 5, 16))
        assert torch.allclose(manual, mixer(x), atol=1e-5)


def test_every_activation_make_activation_knows_is_a_valid_mlp_act():
    from typing import get_args

    import forwardkit as fk
    from forwardkit.builtin.config import Activation
    from forwardkit.nn import ACTIVATIONS

    assert set(get_args(Activation)) == set(ACTIVATIONS)
    for act in ACTIVATIONS:
        fk.create("channel_mixer", "mlp", dim=8, act=act)
