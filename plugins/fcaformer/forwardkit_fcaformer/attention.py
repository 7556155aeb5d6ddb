"""Forward cross attention (Fca): the own tokens' queries attend jointly to their own keys and to the keys of
the cross tokens that earlier blocks of the stage produced (official ``FcaBlock.forward``, token mixer part).

For block i of a stage with tokens ``x`` ``(B, N, C)`` and cross tokens ``S`` ``(B, M, C)``,
``M = min(i, D) * n_s``:

1. LSF (learnable scale factors): ``S <- S * lambda``, ``lambda`` ``(1, M, 1)``, one scalar per cross token
   (init 1). The official code applies it *before* the cross tokens' LayerNorm (``lsf_position='before_norm'``),
   which then cancels it up to the norm's eps; ``'after_norm'`` scales the normalised tokens instead.
2. ``x_n = LN_1(x)``, ``S_n = LN_s(S)`` (a separate LayerNorm for cross tokens).
3. One qkv Linear ``C -> 3C`` for both: ``q, k_x, v_x`` from ``x_n``; only ``k_s, v_s`` from ``S_n``.
4. ``A = softmax([q k_x^T * s + B_rel, q k_s^T * s + beta])`` over all ``N + M`` keys, ``s = d^-1/2``;
   ``B_rel`` the LeViT bias ``(h, N, N)``, ``beta`` ``(1, h, 1, M)`` one learnable logit bias per head and
   cross token (init 0); ``out = proj(A [v_x; v_s])``.

:func:`fca_attention` runs step 4 through torch's fused attention (the two biases become one additive mask);
:func:`fca_attention_reference` writes the joint softmax out and also returns ``A``. Tests check they agree.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.nn import merge_heads
from forwardkit_fcaformer.bias import LeViTAttentionBias


def joint_bias(bias_x: Tensor | None, bias_s: Tensor | None, n: int, m: int) -> Tensor | None:
    """The additive mask ``(1 or B, h, N, N + M)`` of the joint softmax: ``[B_rel, beta]`` along the keys.

    ``bias_x`` ``(h, N, N)`` or None (no relative bias), ``bias_s`` ``(1, h, 1, M)`` or None (no beta); a missing
    part is zeros; both missing (or no cross keys and no relative bias): None."""
    if bias_x is None and (bias_s is None or m == 0):
        return None
    ref = bias_x if bias_x is not None else bias_s
    assert ref is not None
    heads = ref.shape[0] if bias_x is not None else ref.shape[1]
    own = bias_x[None] if bias_x is not None else ref.new_zeros(1, heads, n, n)
    if m == 0:
        return own
    cross = bias_s.expand(1, heads, n, m) if bias_s is not None else ref.new_zeros(1, heads, n, m)
    return torch.cat([own, cross], dim=-1)


def _keys(k_x: Tensor, v_x: Tensor, k_s: Tensor | None, v_s: Tensor | None) -> tuple[Tensor, Tensor]:
    if k_s is None or v_s is None:
        return k_x, v_x
    return torch.cat([k_x, k_s], dim=-2), torch.cat([v_x, v_s], dim=-2)


def fca_attention(q: Tensor, k_x: Tensor, v_x: Tensor, k_s: Tensor | None = None, v_s: Tensor | None = None, *,
                  bias_x: Tensor | None = None, bias_s: Tensor | None = None, scale: float | None = None) -> Tensor:
    """Step 4, fused: ``softmax([q k_x^T s + B_rel, q k_s^T s + beta]) [v_x; v_s]``.

    ``q``, ``k_x``, ``v_x`` ``(B, h, N, d)``; ``k_s``, ``v_s`` ``(B, h, M, d)`` or None (no cross tokens);
    ``bias_x`` ``(h, N, N)``, ``bias_s`` ``(1, h, 1, M)``; ``scale`` default ``d^-1/2``. Returns ``(B, h, N, d)``."""
    k, v = _keys(k_x, v_x, k_s, v_s)
    mask = joint_bias(bias_x, bias_s, q.shape[-2], k.shape[-2] - k_x.shape[-2])
    if mask is not None:
        mask = mask.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def fca_attention_reference(q: Tensor, k_x: Tensor, v_x: Tensor, k_s: Tensor | None = None,
                            v_s: Tensor | None = None, *, bias_x: Tensor | None = None, bias_s: Tensor | None = None,
                            scale: float | None = None) -> tuple[Tensor, Tensor]:
    """Step 4 written out as the official code does: two logit blocks, concatenated, one softmax.

    Same arguments as :func:`fca_attention`; returns ``(out (B, h, N, d), A (B, h, N, N + M))``."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q = q * scale
    logits_x = q @ k_x.transpose(-2, -1)  # (B, h, N, N)
    if bias_x is not None:
        logits_x = logits_x + bias_x
    parts, values = [logits_x], [v_x]
    if k_s is not None and v_s is not None:
        logits_s = q @ k_s.transpose(-2, -1)  # (B, h, N, M)
        if bias_s is not None:
            logits_s = logits_s + bias_s
        parts.append(logits_s)
        values.append(v_s)
    weights = torch.cat(parts, dim=-1).softmax(dim=-1)
    return weights @ torch.cat(values, dim=-2), weights


def _heads(t: Tensor, parts: int, num_heads: int) -> Tensor:
    """``(B, L, parts * C) -> (parts, B, h, L, C / h)``."""
    b, n, _ = t.shape
    return t.reshape(b, n, parts, num_heads, -1).permute(2, 0, 3, 1, 4)


class FcaAttention(nn.Module):
    """The token mixer of one Fca block: steps 1-4 and the output projection, on ``(B, N, C)`` tokens of a
    fixed grid, with ``n_cross`` cross tokens ``(B, n_cross, C)`` (0 for block 0 or without Fca).

    Parameters (official names in brackets): ``norm1``, ``qkv``, ``proj``, ``rel_bias.table``
    [``attention_biases``], and for ``n_cross > 0``: ``cross_norm`` [``s_norm``], ``lsf`` ``(1, M, 1)``
    [``s_scale_factors``], ``cross_bias`` ``(1, h, 1, M)`` [``s_token_bias``]."""

    def __init__(self, *, dim: int, head_dim: int, grid: tuple[int, ...], n_cross: int, qkv_bias: bool = True,
                 rel_bias: bool = True, lsf: bool = True, lsf_position: str = "before_norm", cross_bias: bool = True,
                 backend: Literal["sdpa", "reference"] = "sdpa") -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.n_cross = dim // head_dim, head_dim, n_cross
        self.lsf_position, self.backend = lsf_position, backend
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.rel_bias = LeViTAttentionBias(grid=grid, num_heads=self.num_heads) if rel_bias else None
        self.cross_norm = nn.LayerNorm(dim) if n_cross else None
        self.lsf = nn.Parameter(torch.ones(1, n_cross, 1)) if n_cross and lsf else None
        self.cross_bias = nn.Parameter(torch.zeros(1, self.num_heads, 1, n_cross)) if n_cross and cross_bias else None

    def _cross_kv(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """Steps 1-3 for the cross tokens ``s`` ``(B, M, C)``: LSF, ``LN_s``, k and v only (``(B, h, M, d)`` each)."""
        assert self.cross_norm is not None
        if self.lsf is not None and self.lsf_position == "before_norm":
            s = s * self.lsf
        s = self.cross_norm(s)
        if self.lsf is not None and self.lsf_position == "after_norm":
            s = s * self.lsf
        c = s.shape[-1]
        bias = self.qkv.bias[c:] if self.qkv.bias is not None else None
        k_s, v_s = _heads(F.linear(s, self.qkv.weight[c:], bias), 2, self.num_heads)
        return k_s, v_s

    def forward(self, x: Tensor, cross: Tensor | None = None, *, need_weights: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        """``x`` ``(B, N, C)``, ``cross`` ``(B, n_cross, C)`` or None (attend to own tokens only) ->
        ``(out (B, N, C), A (B, h, N, N + M) or None)``; ``need_weights`` returns the softmax (reference path)."""
        if cross is not None and cross.shape[1] != self.n_cross:
            raise ValueError(f"this block takes {self.n_cross} cross tokens (its LSF and beta sizes), got "
                             f"{cross.shape[1]}")
        q, k_x, v_x = _heads(self.qkv(self.norm1(x)), 3, self.num_heads)
        k_s, v_s = self._cross_kv(cross) if cross is not None else (None, None)
        bias_x = self.rel_bias() if self.rel_bias is not None else None
        bias_s = self.cross_bias if cross is not None else None
        weights = None
        if need_weights or self.backend == "reference":
            out, weights = fca_attention_reference(q, k_x, v_x, k_s, v_s, bias_x=bias_x, bias_s=bias_s)
        else:
            out = fca_attention(q, k_x, v_x, k_s, v_s, bias_x=bias_x, bias_s=bias_s)
        return self.proj(merge_heads(out)), weights if need_weights else None
