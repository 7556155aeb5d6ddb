"""The cross-attention-mass analyzer: one row per Fca block, masses that follow beta, the uniform share."""

from __future__ import annotations

import pytest
import torch
from forwardkit_fcaformer.analyzer import CrossAttentionMass, cross_attention_mass, cross_mass
from forwardkit_fcaformer.model import FcaFormer

import forwardkit


def _model(**kw) -> FcaFormer:
    torch.manual_seed(0)
    return FcaFormer(preset="tiny", in_channels=1, num_classes=10, **kw).eval()


def test_rows_follow_the_tiny_composition() -> None:
    rows = cross_attention_mass(_model(), torch.randn(3, 28, 28, 1))
    assert [(r["stage"], r["block"], r["own_keys"], r["cross_keys"]) for r in rows] == [
        (3, 0, 49, 0), (3, 1, 49, 4), (3, 2, 49, 8), (3, 3, 49, 12), (4, 0, 16, 0), (4, 1, 16, 1)]
    for r in rows:
        assert 0.0 <= r["cross_mass"] <= 1.0
        assert r["uniform_share"] == pytest.approx(r["cross_keys"] / (r["own_keys"] + r["cross_keys"]))
    # at init (beta 0, LeViT bias 0) the logits are small: the mass is near the uniform share
    assert rows[3]["cross_mass"] == pytest.approx(rows[3]["uniform_share"], abs=0.05)


def test_mass_follows_beta() -> None:
    model = _model()
    x = torch.randn(2, 28, 28, 1)
    for value, low, high in ((-1e9, 0.0, 1e-6), (30.0, 0.999, 1.0)):
        with torch.no_grad():
            for _, stage in model.fca_stages():
                for block in stage.blocks[1:]:
                    block.attn.cross_bias.fill_(value)
        masses = [r["cross_mass"] for r in cross_attention_mass(model, x) if r["cross_keys"]]
        assert all(low <= m <= high for m in masses), (value, masses)
    w = torch.tensor([[[[0.2, 0.3, 0.5]]]])
    assert cross_mass(w, 1).item() == pytest.approx(0.8)


def test_analyzer_numbers_and_registry() -> None:
    analyzer = forwardkit.create("analyzer", "fca_cross_attention", figure=True)
    assert isinstance(analyzer, CrossAttentionMass)
    model = _model()
    batches = [model.example_batch(4, generator=torch.Generator().manual_seed(s)) for s in range(2)]
    out = analyzer.analyze(model, batches)
    try:
        n = out.numbers
        assert n["fca_blocks"] == 6 and n["blocks_with_cross_tokens"] == 4 and n["images"] == 8
        assert n["stage3/block3/cross_keys"] == 12 and n["stage4/block1/cross_keys"] == 1
        crossed = [n[f"stage{s}/block{b}/cross_mass"] for s, b in ((3, 1), (3, 2), (3, 3), (4, 1))]
        assert n["mean_cross_mass"] == pytest.approx(sum(crossed) / 4)
        assert n["parameters"] == sum(p.numel() for p in model.parameters())
        assert 0.0 <= n["rising_fraction"] <= 1.0 and len(out.tables["blocks"]) == 6
        assert "cross_mass" in out.figures
    finally:
        out.close()
    baseline = analyzer.analyze(_model(cross_tokens=False), batches[:1])
    assert "mean_cross_mass" not in baseline.numbers and baseline.numbers["blocks_with_cross_tokens"] == 0
    baseline.close()
    with pytest.raises(TypeError, match="needs an 'fcaformer'"):
        analyzer.analyze(torch.nn.Linear(2, 2))
