"""forwardkit.nn.attention: the fused and the paper-literal attention agree under every kind of mask; heads."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from forwardkit.nn import (
    MultiHeadAttention,
    RelativePositionBias,
    attention_reference,
    attention_scores,
    block_causal_mask,
    causal_mask,
    class_token_attention,
    local_mask,
    merge_heads,
    multi_head_attention,
    neighborhood_mask,
    project_qkv,
    scaled_dot_product_attention,
    split_heads,
    window_mask,
)

B, H, D = 2, 3, 8


def qkv(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, H, n, D, generator=g, dtype=torch.float64) for _ in range(3))  # type: ignore[return-value]


def literal(q, k, v, allowed: torch.Tensor | None = None, bias: torch.Tensor | None = None):
    """softmax(q k^T / sqrt(d) + M) v, one head and one query at a time, with plain Python loops over keys."""
    out = torch.zeros_like(q)
    n = q.shape[2]
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            for i in range(n):
                logits = []
                for j in range(k.shape[2]):
                    if allowed is not None and not bool(allowed[i, j]):
                        logits.append(float("-inf"))
                        continue
                    s = float(q[b, h, i] @ k[b, h, j]) / math.sqrt(q.shape[-1])
                    logits.append(s + (float(bias[h, i, j]) if bias is not None else 0.0))
                w = torch.tensor(logits, dtype=q.dtype).softmax(0)
                out[b, h, i] = w @ v[b, h]
    return out


MASKS = {
    "none": lambda: None,
    "causal": lambda: causal_mask(12),
    "block_causal": lambda: block_causal_mask(12, block_size=4),
    "local": lambda: local_mask(12, radius=2),
    "local_causal": lambda: local_mask(12, radius=3, causal=True),
    "window_2d": lambda: window_mask((3, 4), window=2),
    "shifted_window_2d": lambda: window_mask((3, 4), window=2, shift=1),
    "neighborhood_2d": lambda: neighborhood_mask((3, 4), radius=1),
    "arbitrary_bool": lambda: (torch.rand(12, 12, generator=torch.Generator().manual_seed(3)) < 0.5)
    | torch.eye(12, dtype=torch.bool),
}


@pytest.mark.parametrize("name", sorted(MASKS))
def test_sdpa_reference_and_the_written_out_equation_agree(name):
    q, k, v = qkv(12)
    mask = MASKS[name]()
    fused = scaled_dot_product_attention(q, k, v, mask=mask)
    ref, weights = attention_reference(q, k, v, mask=mask)
    torch.testing.assert_close(fused, ref)
    torch.testing.assert_close(ref, literal(q, k, v, mask))
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, H, 12, dtype=q.dtype))
    if mask is not None:
        assert bool((weights[..., ~mask] == 0).all())  # no weight where the mask forbids


def test_additive_masks_and_relative_position_bias():
    q, k, v = qkv(12, seed=1)
    bias = RelativePositionBias(spatial=(3, 4), num_heads=H).double()
    with torch.no_grad():
        bias.table.normal_()
    m = bias().detach()  # (H, N, N) additive
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=m), attention_reference(q, k, v, mask=m)[0])
    torch.testing.assert_close(attention_reference(q, k, v, mask=m)[0], literal(q, k, v, bias=m))
    # an additive mask with -inf equals the boolean mask; both combine with causal
    allowed = window_mask((3, 4), window=2)
    additive = torch.zeros(12, 12, dtype=q.dtype).masked_fill(~allowed, float("-inf"))
    for causal in (False, True):
        a = scaled_dot_product_attention(q, k, v, mask=allowed, causal=causal)
        torch.testing.assert_close(a, scaled_dot_product_attention(q, k, v, mask=additive, causal=causal))
        torch.testing.assert_close(a, attention_reference(q, k, v, mask=allowed, causal=causal)[0])
    both = literal(q, k, v, allowed & causal_mask(12))
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=allowed, causal=True), both)


def test_causal_flag_equals_the_causal_mask():
    q, k, v = qkv(7)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, causal=True),
                               scaled_dot_product_attention(q, k, v, mask=causal_mask(7)))
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, causal=True),
                               attention_reference(q, k, v, causal=True)[0])


def test_heads_split_merge_and_fused_projection():
    x = torch.randn(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    torch.testing.assert_close(heads[:, 1], x[..., 4:8])  # head k holds channels k*d .. (k+1)*d
    assert torch.equal(merge_heads(heads), x)
    with pytest.raises(ValueError, match="num_heads=5"):
        split_heads(x, 5)
    tokens = torch.randn(2, 3, 4, 6)
    weight, bias = torch.randn(3 * 8, 6), torch.randn(3 * 8)
    q, k, v = project_qkv(tokens, weight, bias, num_heads=2)
    flat = F.linear(tokens.reshape(2, 12, 6), weight, bias)
    for got, part in zip((q, k, v), flat.split(8, dim=-1), strict=True):
        assert got.shape == (2, 2, 12, 4)
        torch.testing.assert_close(got, split_heads(part, 2))


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_backends_agree_on_images(causal):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 16, dtype=torch.float64)
    w_qkv, w_proj = torch.randn(3 * 16, 16, dtype=torch.float64), torch.randn(16, 16, dtype=torch.float64)
    mask = neighborhood_mask((3, 4), radius=1)
    for m in (None, mask):
        fused = multi_head_attention(x, w_qkv, w_proj, num_heads=4, causal=causal, mask=m)
        ref = multi_head_attention(x, w_qkv, w_proj, num_heads=4, causal=causal, mask=m, backend="reference")
        assert fused.shape == x.shape
        torch.testing.assert_close(fused, ref)
    with pytest.raises(ValueError, match="backend"):
        multi_head_attention(x, w_qkv, w_proj, num_heads=4, backend="flash")  # type: ignore[call-overload]


def test_class_token_attention_is_the_head_mean_of_row_zero():
    q, k, v = qkv(9, seed=2)
    _, weights = attention_reference(q, k, v)
    torch.testing.assert_close(class_token_attention(q, k), weights[:, :, 0, 1:].mean(1))
    mask = local_mask(9, radius=3)
    _, masked = attention_reference(q, k, v, mask=mask)
    row = class_token_attention(q, k, mask=mask)
    torch.testing.assert_close(row, masked[:, :, 0, 1:].mean(1))
    assert bool((row[:, 3:] == 0).all())  # tokens 4.. are outside the class token's window


def test_module_returns_the_class_row_without_changing_its_output():
    torch.manual_seed(0)
    attn = MultiHeadAttention(dim=16, num_heads=4, head_dim=4, qkv_bias=True).eval()
    x = torch.randn(3, 10, 16)
    out, row = attn.forward_with_class_attention(x)
    assert torch.equal(out, attn(x)) and row.shape == (3, 9)
    q, k, v = project_qkv(x, attn.qkv.weight, attn.qkv.bias, num_heads=4)
    torch.testing.assert_close(row, attention_reference(q, k, v)[1][:, :, 0, 1:].mean(1))
    scores = attn.attention_scores(x)
    torch.testing.assert_close(scores.softmax(-1), attention_reference(q, k, v)[1])


def test_module_masks_and_causality():
    torch.manual_seed(0)
    attn = MultiHeadAttention(dim=8, head_dim=4, causal=True).eval()
    x = torch.randn(2, 6, 8)
    changed = x.clone()
    changed[:, 4:] = torch.randn(2, 2, 8)
    torch.testing.assert_close(attn(x)[:, :4], attn(changed)[:, :4])  # the future does not leak
    # a window mask keeps windows independent
    local = MultiHeadAttention(dim=8, head_dim=4).eval()
    img = torch.randn(1, 4, 4, 8)
    mask = window_mask((4, 4), window=2)
    other = img.clone()
    other[:, 2:, 2:] += 1.0  # only the bottom-right window changes
    a, b = local(img, mask), local(other, mask)
    torch.testing.assert_close(a[:, :2], b[:, :2])
    torch.testing.assert_close(a[:, :, :2], b[:, :, :2])
    assert not torch.allclose(a[:, 2:, 2:], b[:, 2:, 2:])
    scores = local.attention_scores(img, mask)
    assert bool(torch.isinf(scores[..., ~mask]).all())


def test_attention_scores_function_matches_the_module():
    torch.manual_seed(0)
    attn = MultiHeadAttention(dim=8, head_dim=4, causal=True)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(attn.attention_scores(x),
                               attention_scores(x, attn.qkv.weight, num_heads=2, causal=True))
