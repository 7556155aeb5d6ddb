"""The effective attention q(j|i) (eq. 8) and its inspector: valid rows, full support, causality, rank-1 blocks."""

from __future__ import annotations

import pytest
import torch
from forwardkit_combiner.analyzer import EffectiveAttentionAnalyzer, block_ranks, effective_attention
from forwardkit_combiner.attention import CombinerAttention
from forwardkit_combiner.model import CombinerAR
from forwardkit_combiner.sparse import LogSparseAttention, SparseAxialAttention, SparseFixedAttention

CAUSAL_VARIANTS = ["fixed", "logsparse", "axial_rowmajor", "axial_vertical", "axial_horizontal", "mixture"]


def _x(*spatial: int) -> torch.Tensor:
    return torch.randn(2, *spatial, 16, generator=torch.Generator().manual_seed(0))


def _eff(module: torch.nn.Module, *spatial: int) -> torch.Tensor:
    torch.manual_seed(1)
    return effective_attention(module.eval(), _x(*spatial))


@pytest.mark.parametrize("variant", CAUSAL_VARIANTS)
@pytest.mark.parametrize("spatial", [(16,), (8, 8)])
def test_causal_combiner_rows_are_distributions_over_exactly_the_past(variant, spatial):
    torch.manual_seed(1)
    eff = _eff(CombinerAttention(dim=16, num_heads=2, variant=variant), *spatial)
    n = eff.shape[-1]
    past = torch.ones(n, n, dtype=torch.bool).tril()
    assert torch.allclose(eff.sum(-1), torch.ones(()), atol=1e-6)
    assert bool((eff[..., past] > 0).all()), "full support: every j <= i gets weight"
    assert bool((eff[..., ~past] == 0).all()), "no mass on the future"


@pytest.mark.parametrize("variant", ["fixed", "axial_rowmajor"])
def test_mlm_combiner_rows_cover_every_token(variant):
    torch.manual_seed(1)
    eff = _eff(CombinerAttention(dim=16, num_heads=2, variant=variant, causal=False), 8, 8)
    assert torch.allclose(eff.sum(-1), torch.ones(()), atol=1e-6) and bool((eff > 0).all())


@pytest.mark.parametrize("cls", [SparseFixedAttention, SparseAxialAttention, LogSparseAttention])
def test_sparse_baselines_leave_zeros_inside_the_past(cls):
    torch.manual_seed(1)
    mixer = cls(dim=16, num_heads=2)
    eff = _eff(mixer, 8, 8)
    support = mixer.mask((8, 8))
    past = torch.ones(64, 64, dtype=torch.bool).tril()
    assert torch.allclose(eff.sum(-1), torch.ones(()), atol=1e-6)
    assert bool((eff[..., support] > 0).all()) and bool((eff[..., ~support] == 0).all())
    assert bool((past & ~support).any()), "a sparse pattern misses part of [0, i]"


def test_combiner_fixed_mlm_blocks_between_segments_have_rank_one():
    """§3.3: queries sharing a region see it through one local distribution, scaled per query."""
    torch.manual_seed(1)
    mixer = CombinerAttention(dim=16, num_heads=2, variant="fixed", causal=False).double()
    eff = effective_attention(mixer.eval(), _x(6, 6).double())
    for matrix in eff.reshape(-1, 36, 36):
        for a in range(6):
            for b in range(6):
                block = matrix[a * 6 : (a + 1) * 6, b * 6 : (b + 1) * 6]
                sv = torch.linalg.svdvals(block)
                if a == b:
                    assert sv[1] / sv[0] > 1e-3, "the direct block is not rank 1"
                else:
                    assert sv[1] / sv[0] < 1e-10
    assert set(block_ranks(eff[0, 0], 6, causal=False, tol=1e-8)) == {1}


def _model(mixer: dict) -> CombinerAR:
    torch.manual_seed(0)
    return CombinerAR(grid=[6, 6], dim=16, num_heads=2, depth=2, token_mixer=mixer).eval()


def test_the_analyzer_reports_full_support_for_combiner_and_gaps_for_the_sparse_pattern():
    analyzer = EffectiveAttentionAnalyzer()
    data = [_model({"name": "combiner_attention"}).example_batch(3, generator=torch.Generator().manual_seed(0))]
    combiner = analyzer.analyze(_model({"name": "combiner_attention"}), data).numbers
    sparse = analyzer.analyze(_model({"name": "sparse_fixed_attention"}), data).numbers
    full = analyzer.analyze(_model({"name": "attention", "causal": True}), data).numbers
    assert combiner["layers"] == sparse["layers"] == full["layers"] == 2
    for numbers in (combiner, sparse, full):
        assert numbers["row_sum_error"] < 1e-5 and numbers["future_mass"] == 0.0
    assert combiner["support_coverage"] == 1.0 and combiner["block_rank_max"] == 1.0
    assert sparse["support_coverage"] < 1.0 and sparse["min_allowed_weight"] == 0.0
    assert full["support_coverage"] == 1.0 and full["kl_to_full"] == pytest.approx(0.0, abs=1e-6)
    assert combiner["kl_to_full"] > 0 and "blocks.0.token_mixer/kl_to_full" in combiner


def test_the_analyzer_draws_the_matrices_and_refuses_large_layers():
    model = _model({"name": "combiner_attention", "variant": "logsparse"})
    result = EffectiveAttentionAnalyzer(figure=True).analyze(model)
    try:
        assert set(result.figures) == {"effective_attention"} and len(result.tables["layers"]) == 2
    finally:
        result.close()
    with pytest.raises(ValueError, match="max_tokens"):
        EffectiveAttentionAnalyzer(max_tokens=16).analyze(model)
