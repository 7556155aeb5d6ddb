"""Registration of the combiner components (import paths only, no torch)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="Combiner: Full Attention Transformer with Sparse Computation Cost", arxiv="2107.05768",
              url="https://github.com/google-research/google-research/tree/master/combiner", year=2021)
_P = "forwardkit_combiner"
_C = f"{_P}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("token_mixer", "combiner_attention", target=f"{_P}.attention:CombinerAttention",
        config=f"{_C}:CombinerAttentionConfig", paper=PAPER, functional=f"{_P}.attention:combiner_attention",
        summary="Combiner: full-support attention at sparse cost (Fixed, Logsparse, Axial rowmajor/vertical/"
                "horizontal, Mixture), direct terms + region abstractions under one softmax")
    add("token_mixer", "sparse_fixed_attention", target=f"{_P}.sparse:SparseFixedAttention",
        config=f"{_C}:SparseFixedAttentionConfig", paper=PAPER, functional=f"{_P}.sparse:fixed_mask",
        summary="Sparse Transformer 'fixed' baseline: own segment + each segment's last token (dense mask)")
    add("token_mixer", "sparse_axial_attention", target=f"{_P}.sparse:SparseAxialAttention",
        config=f"{_C}:SparseAxialAttentionConfig", paper=PAPER, functional=f"{_P}.sparse:axial_mask",
        summary="Axial sparse baseline: own row + own column of the n x m token matrix (dense mask)")
    add("token_mixer", "logsparse_attention", target=f"{_P}.sparse:LogSparseAttention",
        config=f"{_C}:LogSparseAttentionConfig", paper=PAPER, functional=f"{_P}.sparse:logsparse_mask",
        summary="Logsparse baseline (LM): i and the last token of each dyadic block of [0, i) (dense mask)")
    add("analyzer", "effective_attention", target=f"{_P}.analyzer:EffectiveAttentionAnalyzer",
        config=f"{_C}:EffectiveAttentionConfig", paper=PAPER, functional=f"{_P}.analyzer:effective_attention",
        summary="the implied attention q(j|i) (eq. 8) of every attention layer: row sums, future mass, support "
                "coverage, KL to full attention, ranks of the segment blocks")
    add("model", "combiner-ar-tiny", target=f"{_P}.model:CombinerAR", config=f"{_C}:CombinerARConfig", paper=PAPER,
        summary="autoregressive Transformer over token grids (raster order): embeddings, pre-LN causal blocks, "
                "LM head; d=64, 4 heads, 2 blocks")
    add("dataset", "raster_digits", target=f"{_P}.data:RasterDigits", config=f"{_C}:RasterDigitsConfig",
        paper=PAPER, functional=f"{_P}.data:quantize_images",
        summary="real digits (mnist5k 28x28 -> 14x14, or 8x8 digits) quantised to 8 grey levels, as token "
                "grids for autoregressive density estimation")
    add("task", "autoregressive_nll", target=f"{_P}.task:AutoregressiveNLL", config=f"{_C}:AutoregressiveNLLConfig",
        paper=PAPER, functional=f"{_P}.task:bits_per_dim",
        summary="teacher-forced next-token NLL; metrics loss (nats/dim), bits_per_dim, accuracy")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
