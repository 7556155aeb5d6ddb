"""The card's mechanism tests: exactness, kernel = paper-literal plan, causality, gradient reach, shapes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from forwardkit_combiner.attention import CombinerAttention, combiner_attention
from forwardkit_combiner.partition import partition
from forwardkit_combiner.reference import reference_attention, reference_effective
from forwardkit_combiner.sparse import SparseFixedAttention, fixed_mask

CAUSAL_VARIANTS = ["fixed", "logsparse", "axial_rowmajor", "axial_vertical", "axial_horizontal", "mixture"]
CASES = [(v, True) for v in CAUSAL_VARIANTS] + [("fixed", False), ("axial_rowmajor", False)]


def _mixer(dtype: torch.dtype = torch.float64, **config: object) -> CombinerAttention:
    torch.manual_seed(0)
    return CombinerAttention(dim=8, num_heads=2, **config).to(dtype).eval()


def _tokens(*spatial: int, dtype: torch.dtype = torch.float64, seed: int = 1) -> torch.Tensor:
    return torch.randn(2, *spatial, 8, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("segment_len", [1, 16])
def test_fixed_with_trivial_segments_is_full_softmax_attention(causal, segment_len):
    """segment_len = 1: every other token is its own region (a one-element local softmax); segment_len = L:
    everything is direct. Both are full (causal) softmax attention, to 1e-5 in float32."""
    m = _mixer(torch.float32, variant="fixed", causal=causal, segment_len=segment_len)
    x = _tokens(16, dtype=torch.float32)
    q, k, v = m.heads(x)
    full = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=1.0)
    out = m.attend(q, k, v, (16,), x.reshape(2, 16, 8))
    assert (out - full).abs().max() < 1e-5


@pytest.mark.parametrize(("variant", "causal"), CASES)
@pytest.mark.parametrize("spatial", [(12,), (3, 5)])
@pytest.mark.parametrize("summary", ["max", "mean", "deepset"])
def test_vectorised_kernel_equals_the_paper_literal_plans(variant, causal, spatial, summary):
    """The reshape/einsum kernels compute exactly eq. 7-9 on the explicit partition of every query."""
    m = _mixer(variant=variant, causal=causal, summary=summary)
    x = _tokens(*spatial)
    q, k, v = m.heads(x)
    plans = partition(variant, spatial, causal=causal)
    qs = m.query_summary or m.key_summary
    ref = reference_attention(q, k, v, plans, query_summary=qs, key_summary=m.key_summary)
    out = m.attend(q, k, v, spatial, x.reshape(2, -1, 8))
    assert torch.allclose(out, ref, atol=1e-12, rtol=0)


def test_mixture_average_is_the_mean_of_the_vertical_and_horizontal_factorisations():
    m = _mixer(variant="mixture", mixture_mode="average")
    x = _tokens(4, 5)
    q, k, v = m.heads(x)
    opts = {"query_summary": m.query_summary, "key_summary": m.key_summary}
    ref = 0.5 * (reference_attention(q, k, v, partition("axial_vertical", (4, 5)), **opts)
                 + reference_attention(q, k, v, partition("axial_horizontal", (4, 5)), **opts))
    assert torch.allclose(m.attend(q, k, v, (4, 5), x.reshape(2, -1, 8)), ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("causal", [True, False])
def test_learned_rowmajor_key_equals_the_plan_with_per_position_keys(causal):
    """Official JAX key Dense(LN(x_(r,c) + W v_hat_(r,c))): the kernel matches the query-by-query reference."""
    m = _mixer(variant="axial_rowmajor", row_key="learned", causal=causal)
    x = _tokens(3, 4)
    tok = x.reshape(2, -1, 8)
    q, k, v = m.heads(x)
    assert m.row_key is not None
    ref = reference_effective(q, k, v, partition("axial_rowmajor", (3, 4), causal=causal, learned_key=True),
                              query_summary=m.key_summary, key_summary=m.key_summary,  # unused: learned keys
                              learned_key=lambda v_hat, pos: m.row_key.at(v_hat, tok[:, pos]))
    assert torch.allclose(m.effective_attention(x), ref, atol=1e-12, rtol=0)


def test_functional_form_defaults_to_max_pooling():
    m = _mixer(variant="axial_vertical")
    x = _tokens(3, 4)
    q, k, v = m.heads(x)
    out = combiner_attention(q, k, v, variant="axial_vertical", spatial=(3, 4))
    assert torch.allclose(out, m.attend(q, k, v, (3, 4), x.reshape(2, -1, 8)), atol=1e-12, rtol=0)


@pytest.mark.parametrize("variant", CAUSAL_VARIANTS)
def test_perturbing_a_token_changes_no_earlier_output(variant):
    m = _mixer(variant=variant)
    x = _tokens(4, 5)
    out = m(x).reshape(2, 20, 8)
    for t in (0, 6, 13, 19):
        x2 = x.clone().reshape(2, 20, 8)
        x2[:, t] += 1.0
        out2 = m(x2.reshape(x.shape)).reshape(2, 20, 8)
        assert torch.allclose(out[:, :t], out2[:, :t], atol=1e-12, rtol=0), f"position < {t} saw x_{t}"
        assert not torch.allclose(out[:, t], out2[:, t])


def _reach(module: torch.nn.Module, length: int) -> torch.Tensor:
    """``(L, L)`` bool: whether output i depends on input j. Sample i of a batch of L copies of one input
    backpropagates only output i (samples are independent), so one backward pass gives every row of the
    Jacobian's block pattern."""
    x = _tokens(length)[:1].expand(length, length, 8).clone().requires_grad_(True)
    out = module(x)
    w = torch.randn(8, generator=torch.Generator().manual_seed(3), dtype=out.dtype)
    (out[torch.arange(length), torch.arange(length)] @ w).sum().backward()
    assert x.grad is not None
    return x.grad.abs().sum(-1) > 0


@pytest.mark.parametrize("variant", CAUSAL_VARIANTS)
def test_one_combiner_layer_reaches_every_past_token(variant):
    """Full attention capability in one layer: d o_i / d x_j != 0 for every j <= i (and 0 for j > i)."""
    reach = _reach(_mixer(variant=variant), 16)
    assert torch.equal(reach, torch.ones(16, 16, dtype=torch.bool).tril())


def test_one_sparse_fixed_layer_reaches_exactly_its_support():
    torch.manual_seed(0)
    sparse = SparseFixedAttention(dim=8, num_heads=2).double().eval()
    reach = _reach(sparse, 16)
    support = fixed_mask(16, 4, causal=True)
    assert torch.equal(reach, support) and not bool(support.tril().all())


def test_rank2_tokens_use_rows_of_w_and_rank3_the_raster_of_the_last_axis():
    m = _mixer(variant="fixed")
    x = _tokens(4, 6)
    assert torch.allclose(m(x).reshape(2, 24, 8), _mixer(variant="fixed", segment_len=6)(x.reshape(2, 24, 8)))
    x3 = _tokens(2, 3, 4)
    rows = _mixer(variant="axial_vertical")
    assert torch.allclose(rows(x3).reshape(2, 6, 4, 8), rows(x3.reshape(2, 6, 4, 8)))


def test_a_segment_length_that_does_not_divide_l_is_refused_clearly():
    m = _mixer(variant="fixed", segment_len=5)
    assert not m.supports((12,)) and m.supports((10,)) and m.supports((2, 5))
    with pytest.raises(ValueError, match="segment_len=5 does not divide the L=12 tokens"):
        m(_tokens(12))
    assert _mixer(variant="logsparse").supports((13,))


def test_one_softmax_normalises_direct_and_region_terms_together():
    """eq. 9: separately normalised direct and region terms would give rows summing to 2."""
    for variant in CAUSAL_VARIANTS:
        eff = _mixer(variant=variant).effective_attention(_tokens(4, 4))
        assert torch.allclose(eff.sum(-1), torch.ones(()).double(), atol=1e-12)


def test_variants_without_an_mlm_form_refuse_causal_false():
    for variant in ("logsparse", "axial_vertical", "axial_horizontal", "mixture"):
        with pytest.raises(ValueError, match="causal"):
            CombinerAttention(dim=8, num_heads=2, variant=variant, causal=False)
