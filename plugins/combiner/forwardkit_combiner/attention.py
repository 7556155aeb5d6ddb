"""CombinerAttention: the multi-head token mixer of every Combiner factorisation (paper §3-4).

Per head the output is ``A(x_i) = sum_{j in Omega_i^0} p~(j|i) v_j + sum_r p(Omega_i^r | i) v_hat_r`` (eq. 7)
with one normaliser for the direct and the region logits (eq. 9); the factorisation (the partition of the
support into ``Omega_i^0, Omega_i^1, ...``) is the ``variant``. Kernels: :mod:`.fixed`, :mod:`.logsparse`,
:mod:`.axial`; the paper-literal reference on explicit partitions is :mod:`.reference`.

Tokens ``(B, *spatial, C)`` are flattened row-major; rank 2 ``(B, H, W, C)`` uses rows = H, row length W,
rank 3 ``(B, T, H, W, C)`` is the raster of ``T * H`` rows of W (see :mod:`.grid`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.nn import merge_heads, split_heads
from forwardkit_combiner.axial import combiner_horizontal, combiner_mixture_joint, combiner_rowmajor, combiner_vertical
from forwardkit_combiner.config import CombinerAttentionConfig
from forwardkit_combiner.fixed import combiner_fixed
from forwardkit_combiner.grid import segments
from forwardkit_combiner.heads import HeadsAttention
from forwardkit_combiner.logsparse import combiner_logsparse
from forwardkit_combiner.summaries import Summary

__all__ = ["CombinerAttention", "combiner_attention"]

_NEEDS_QUERY_SUMMARY = {"fixed", "logsparse", "axial_vertical", "axial_horizontal", "mixture"}


def combiner_attention(q: Tensor, k: Tensor, v: Tensor, *, variant: str, spatial: tuple[int, ...],
                       segment_len: int | None = None, causal: bool = True, query_summary: Summary | None = None,
                       key_summary: Summary | None = None, mixture_mode: str = "joint_softmax",
                       region_key: Any = None, dropout_p: float = 0.0) -> Tensor:
    """Functional form on heads: q (pre-scaled by ``1 / sqrt(d)``), k ``(B, h, L, d)``, v ``(B, h, L, d_v)`` of
    the ``L = prod(spatial)`` tokens -> ``(B, h, L, d_v)``. Summaries default to max-pooling (paper §3.2)."""
    head_dim = q.shape[-1]
    qs = query_summary or Summary(kind="max", head_dim=head_dim)
    ks = key_summary or Summary(kind="max", head_dim=head_dim)
    if variant == "logsparse":
        return combiner_logsparse(q, k, v, query_summary=qs, key_summary=ks, dropout_p=dropout_p)
    rows, seg = segments(spatial, segment_len)
    if variant == "fixed":
        return combiner_fixed(q, k, v, segment_len=seg, causal=causal, query_summary=qs, key_summary=ks,
                              dropout_p=dropout_p)
    if variant == "axial_rowmajor":
        return combiner_rowmajor(q, k, v, rows=rows, causal=causal, key_summary=ks, region_key=region_key,
                                 dropout_p=dropout_p)
    def axial(kernel: Any) -> Tensor:
        return kernel(q, k, v, rows=rows, query_summary=qs, key_summary=ks, dropout_p=dropout_p)

    if variant == "axial_vertical":
        return axial(combiner_vertical)
    if variant == "axial_horizontal":
        return axial(combiner_horizontal)
    if variant == "mixture":
        if mixture_mode == "average":  # paper §3.3: A(x_i) = 1/M sum_m A(x_i; w_m), M = 2
            return 0.5 * (axial(combiner_vertical) + axial(combiner_horizontal))
        return axial(combiner_mixture_joint)
    raise ValueError(f"unknown Combiner variant {variant!r}")


class _LearnedRowKey(nn.Module):
    """The official rowmajor region key: ``Dense(LayerNorm(x_(r,c) + W v_hat_(r,c)))`` split into heads."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.summary_proj = nn.Linear(dim, dim, bias=False)
        self.norm = nn.LayerNorm(dim)
        self.key = nn.Linear(dim, dim, bias=False)

    def forward(self, v_hat: Tensor, tokens: Tensor) -> Tensor:
        """``v_hat (B, h, n, m, d_v >= d)`` (its first d channels are the values' summaries), ``tokens (B, L, C)``
        -> keys ``(B, h, n, m, d)``."""
        b, h, n, m, _ = v_hat.shape
        d = tokens.shape[-1] // h
        summaries = merge_heads(v_hat[..., :d].reshape(b, h, n * m, d))                # (B, L, C)
        keys = self.key(self.norm(tokens + self.summary_proj(summaries)))
        return split_heads(keys, h).reshape(b, h, n, m, d)

    def at(self, v_hat: Tensor, token: Tensor) -> Tensor:
        """The key of one position from its value summary ``(B, h, d_v >= d)`` and token ``(B, C)``:
        ``(B, h, d)`` (the per-position form the paper-literal reference uses)."""
        b, h, _ = v_hat.shape
        d = token.shape[-1] // h
        key = self.key(self.norm(token + self.summary_proj(v_hat[..., :d].reshape(b, h * d))))
        return key.reshape(b, h, d)


class CombinerAttention(HeadsAttention):
    """Combiner attention on ``(B, *spatial, C)`` (ranks 1-3): see :func:`combiner_attention` and the config."""

    Config = CombinerAttentionConfig
    config: CombinerAttentionConfig
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"variant": "fixed"}, {"variant": "fixed", "causal": False}, {"variant": "logsparse"},
        {"variant": "axial_rowmajor", "row_key": "learned"}, {"variant": "axial_rowmajor", "causal": False},
        {"variant": "mixture"}, {"variant": "mixture", "mixture_mode": "average", "summary": "deepset"},
    ]

    def __init__(self, config: CombinerAttentionConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        learned = c.variant == "axial_rowmajor" and c.row_key == "learned"
        self.query_summary = Summary(kind=c.summary, head_dim=self.head_dim) if c.variant in _NEEDS_QUERY_SUMMARY \
            else None
        self.key_summary = None if learned else Summary(kind=c.summary, head_dim=self.head_dim)
        self.row_key = _LearnedRowKey(self.dim, self.num_heads) if learned else None

    def supports(self, spatial: tuple[int, ...]) -> bool:
        if len(spatial) not in self.ranks:
            return False
        if self.config.variant == "logsparse":
            return True
        try:
            segments(spatial, self.config.segment_len)
        except ValueError:
            return False
        return True

    def unsupported_reason(self, spatial: tuple[int, ...]) -> str:
        try:
            segments(spatial, self.config.segment_len)
        except ValueError as exc:
            return f"combiner_attention ({self.config.variant}): {exc}"
        return super().unsupported_reason(spatial)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, spatial: tuple[int, ...], tokens: Tensor) -> Tensor:
        c = self.config
        row_key = self.row_key
        region_key = (lambda v_hat: row_key(v_hat, tokens)) if row_key is not None else None
        return combiner_attention(q, k, v, variant=c.variant, spatial=spatial, segment_len=c.segment_len,
                                  causal=c.causal, query_summary=self.query_summary, key_summary=self.key_summary,
                                  mixture_mode=c.mixture_mode, region_key=region_key,
                                  dropout_p=c.attn_dropout if self.training else 0.0)

    def extra_repr(self) -> str:
        c = self.config
        return (f"variant={c.variant}, dim={self.dim}, num_heads={self.num_heads}, causal={c.causal}, "
                f"summary={c.summary}")
