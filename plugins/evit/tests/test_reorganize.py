"""The token reorganisation itself (EViT sec. 3.2): counts, top-K selection, fusion, class token."""

import math

import pytest
import torch
from forwardkit_evit.attention import ClsAttentionMHSA, cls_attention
from forwardkit_evit.model import token_counts
from forwardkit_evit.reorganize import TokenReorganizer, keep_count, reorganize_tokens, select_tokens


def _inputs(batch=3, patches=20, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1 + patches, dim, generator=g)
    attn = torch.softmax(torch.randn(batch, 1 + patches, generator=g), dim=-1)[:, 1:]  # raw weights, sum < 1
    return x, attn


@pytest.mark.parametrize("patches", [1, 7, 20, 49, 196])
@pytest.mark.parametrize("keep_rate", [0.1, 0.5, 0.7, 0.95])
@pytest.mark.parametrize("fuse", [True, False])
def test_token_count_is_one_plus_ceil_kappa_m_plus_fused(patches, keep_rate, fuse):
    x, attn = _inputs(patches=patches)
    out = reorganize_tokens(x, attn, keep_rate, fuse).tokens
    k = math.ceil(keep_rate * patches)
    expected = 1 + patches if k >= patches else 1 + k + (1 if fuse else 0)
    assert out.shape == (3, expected, 8)
    assert keep_count(patches, keep_rate) == min(k, patches)


def test_deit_s_token_counts_follow_the_card():
    rates = [1.0] * 12
    for i in (3, 6, 9):
        rates[i] = 0.7
    counts = token_counts(196, rates, fuse=True)
    assert [counts[i] for i in (3, 6, 9)] == [138 + 1, 98 + 1, 70 + 1]
    assert token_counts(196, rates, fuse=False)[9] == math.ceil(0.7 * math.ceil(0.7 * 138))


def test_kept_set_is_the_top_k_of_the_class_attention_and_sorted_by_score():
    x, attn = _inputs(patches=30)
    res = reorganize_tokens(x, attn, 0.5, True)
    k = math.ceil(0.5 * 30)
    top = torch.topk(attn, k, dim=1, sorted=True).indices
    assert torch.equal(res.keep_idx, top)
    assert torch.equal(res.tokens[:, 1 : 1 + k], torch.gather(x[:, 1:], 1, top.unsqueeze(-1).expand(-1, -1, 8)))
    # the kept tokens carry the largest scores: every kept score >= every dropped score
    kept_scores, drop_scores = torch.gather(attn, 1, res.keep_idx), torch.gather(attn, 1, res.drop_idx)
    assert (kept_scores.min(1).values >= drop_scores.max(1).values).all()


def test_fused_token_is_the_raw_attention_weighted_sum_of_the_complement():
    x, attn = _inputs(patches=25)
    res = reorganize_tokens(x, attn, 0.6, True)
    for b in range(x.shape[0]):
        keep, drop = set(res.keep_idx[b].tolist()), set(res.drop_idx[b].tolist())
        assert keep.isdisjoint(drop) and keep | drop == set(range(25))
        expected = sum(attn[b, j] * x[b, 1 + j] for j in drop)  # weights NOT renormalised
        torch.testing.assert_close(res.tokens[b, -1], expected, rtol=1e-5, atol=1e-6)
        assert attn[b, sorted(drop)].sum() < 1.0  # the weights really are raw (they do not sum to 1)


def test_class_token_is_never_dropped_and_stays_first():
    x, attn = _inputs(patches=16)
    attn[:, :] = 0.0  # even with no attention anywhere
    for rate in (0.05, 0.5, 0.9):
        for selection in ("cls_attention", "random"):
            out = reorganize_tokens(x, attn, rate, True, selection=selection).tokens
            assert torch.equal(out[:, 0], x[:, 0])


def test_keep_rate_one_returns_the_input_unchanged():
    x, attn = _inputs(patches=10)
    assert reorganize_tokens(x, attn, 1.0, True).tokens is x
    assert TokenReorganizer(keep_rate=1.0).active is False


def test_spatial_keep_order_keeps_the_same_set_in_position_order():
    x, attn = _inputs(patches=30)
    by_score = reorganize_tokens(x, attn, 0.5, True)
    spatial = reorganize_tokens(x, attn, 0.5, True, keep_order="spatial")
    assert torch.equal(spatial.keep_idx, by_score.keep_idx.sort(1).values)
    torch.testing.assert_close(spatial.tokens[:, -1], by_score.tokens[:, -1])


def test_random_selection_keeps_the_same_count_is_reproducible_and_differs():
    x, attn = _inputs(patches=40)
    k = keep_count(40, 0.5)
    a, _ = select_tokens(attn, k, selection="random", generator=torch.Generator().manual_seed(1))
    b, _ = select_tokens(attn, k, selection="random", generator=torch.Generator().manual_seed(1))
    c, _ = select_tokens(attn, k, selection="random", generator=torch.Generator().manual_seed(2))
    top, _ = select_tokens(attn, k)
    assert a.shape == top.shape == (3, k)
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a.sort(1).values, top.sort(1).values)
    torch.manual_seed(5)
    r1 = reorganize_tokens(x, attn, 0.5, True, selection="random").tokens
    torch.manual_seed(5)
    r2 = reorganize_tokens(x, attn, 0.5, True, selection="random").tokens
    assert torch.equal(r1, r2) and r1.shape == reorganize_tokens(x, attn, 0.5, True).tokens.shape


def _explicit_cls_attention(mixer: ClsAttentionMHSA, x: torch.Tensor) -> torch.Tensor:
    """The full attention matrix, softmax(Q K^T / sqrt(d)) per head, then mean over heads of row 0, cols 1:."""
    b, n, c = x.shape
    h = mixer.num_heads
    qkv = mixer.qkv(x).reshape(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
    a = torch.softmax(qkv[0] @ qkv[1].transpose(-2, -1) / math.sqrt(c // h), dim=-1)  # (B, H, N, N)
    return a[:, :, 0, 1:].mean(1)


def test_cls_attention_row_matches_an_explicit_recomputation_and_plain_attention():
    torch.manual_seed(0)
    mixer = ClsAttentionMHSA(dim=12, num_heads=3).eval()
    x = torch.randn(2, 9, 12)
    out, row = mixer.attend(x)
    torch.testing.assert_close(row, _explicit_cls_attention(mixer, x), rtol=1e-5, atol=1e-6)
    assert torch.equal(mixer.last_cls_attn, row)
    out_plain, none = cls_attention(x, mixer.qkv.weight, mixer.proj.weight, num_heads=3, qkv_bias=mixer.qkv.bias,
                                    proj_bias=mixer.proj.bias, need_cls_attn=False)
    assert none is None and torch.equal(out, out_plain)


def test_fusion_weights_pass_gradients_to_the_attention():
    x, attn = _inputs(patches=12)
    attn.requires_grad_(True)
    reorganize_tokens(x, attn, 0.5, True).tokens.sum().backward()
    assert attn.grad is not None and attn.grad.abs().sum() > 0
