"""Multi-head scaled dot-product attention over the flattened tokens of ``(B, *spatial, C)``, with masks.

Vaswani et al. 2017, eq. 1-2: each head computes ``Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + M) V``
with ``d = head_dim`` and an optional mask ``M`` (see :mod:`forwardkit.nn.masks`: boolean, True where
attending is allowed, or additive); the heads are concatenated and projected back to C.

Two implementations compute it: :func:`scaled_dot_product_attention` calls
:func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels where available), and
:func:`attention_reference` writes the equation out (explicit scores, softmax and weights). They agree
to rounding (``tests/nn``); pick the reference with ``backend="reference"`` to inspect or check.

Shapes: tokens ``(B, *spatial, C)`` are flattened to ``(B, N, C)``, ``N = prod(spatial)``, row-major;
heads are ``(B, h, N, d)``; a mask is ``(N, N)`` or broadcastable to ``(B, h, N, N)``.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.nn.masks import additive_mask, causal_mask, combine_masks
from forwardkit.nn.projections import pointwise

__all__ = [
    "Backend",
    "MultiHeadAttention",
    "attention_reference",
    "attention_scores",
    "class_token_attention",
    "merge_heads",
    "multi_head_attention",
    "project_qkv",
    "scaled_dot_product_attention",
    "split_heads",
]

Backend = Literal["sdpa", "reference"]


# ---- heads -----------------------------------------------------------------------------------------
def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """``(B, N, h * d) -> (B, h, N, d)``, ``h = num_heads``: channel ``k * d + i`` is channel ``i`` of head ``k``."""
    batch, n, channels = x.shape
    if channels % num_heads:
        raise ValueError(f"{channels} channels do not split into num_heads={num_heads} heads")
    return x.reshape(batch, n, num_heads, channels // num_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """``(B, h, N, d) -> (B, N, h * d)``, the inverse of :func:`split_heads` (the concatenation of eq. 2)."""
    batch, heads, n, d = x.shape
    return x.transpose(1, 2).reshape(batch, n, heads * d)


def project_qkv(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, *, num_heads: int
) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v of the flattened tokens of ``x`` ``(B, *spatial, C)`` by one fused projection, each
    ``(B, h, N, d)``: ``weight`` is ``(3 * D, C)`` (rows: the D channels of q, then of k, then of v, each
    D split into ``h = num_heads`` heads of ``d = D / h``), ``bias`` ``(3 * D,)`` or None."""
    inner = weight.shape[0] // 3
    if inner % num_heads:
        raise ValueError(f"inner dim {inner} is not divisible by num_heads={num_heads}")
    tokens = x.reshape(x.shape[0], -1, x.shape[-1])  # (B, N, C)
    batch, n = tokens.shape[:2]
    qkv = pointwise(tokens, weight, bias)  # (B, N, 3D)
    q, k, v = qkv.reshape(batch, n, 3, num_heads, inner // num_heads).permute(2, 0, 3, 1, 4)  # 3 x (B, h, N, d)
    return q, k, v


# ---- one attention, two implementations --------------------------------------------------------------
def _with_causal(mask: Tensor | None, causal: bool, n_q: int, n_k: int, device: torch.device) -> Tensor | None:
    if not causal:
        return mask
    if n_q != n_k:
        raise ValueError(f"causal attention needs as many queries as keys, got {n_q} and {n_k}")
    return combine_masks(mask, causal_mask(n_q, device=device))


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> Tensor:
    """``softmax(q k^T * scale + M) v`` (eq. 1; ``scale`` defaults to ``1 / sqrt(d)``) by
    :func:`torch.nn.functional.scaled_dot_product_attention`. ``q`` ``(B, h, N, d)``, ``k`` ``(B, h, S, d)``,
    ``v`` ``(B, h, S, d_v)`` -> ``(B, h, N, d_v)``. ``mask``: boolean (True: may attend) or additive,
    broadcastable to ``(B, h, N, S)``; ``causal`` adds :func:`~forwardkit.nn.causal_mask`. ``dropout_p``
    drops attention weights (pass 0 in evaluation)."""
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal, scale=scale)
    full = _with_causal(mask, causal, q.shape[-2], k.shape[-2], q.device)
    assert full is not None
    if full.dtype != torch.bool:
        full = full.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=full, dropout_p=dropout_p, scale=scale)


def attention_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Eq. 1 written out: ``A = softmax(q k^T * scale + M)`` and ``A v``; returns ``(A v, A)`` with the
    weights ``A`` ``(B, h, N, S)`` (before dropout). Same arguments as :func:`scaled_dot_product_attention`."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale  # (B, h, N, S)
    full = _with_causal(mask, causal, q.shape[-2], k.shape[-2], q.device)
    if full is not None:
        scores = scores + additive_mask(full, scores.dtype)
    weights = scores.softmax(dim=-1)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return torch.matmul(dropped, v), weights


def class_token_attention(
    q: Tensor, k: Tensor, *, mask: Tensor | None = None, causal: bool = False, scale: float | None = None
) -> Tensor:
    """The class token's attention to every other token, averaged over heads: with the class token at
    index 0, ``a = mean_h softmax(q_0 k^T * scale + M_0)[1:]`` of shape ``(B, N - 1)`` (EViT, Liang et al.
    2022, sec. 3.1, the "attentiveness" of each patch token). Only the class query's row is formed
    (``O(N d)`` per head). ``q``, ``k`` ``(B, h, N, d)``; masks as in :func:`scaled_dot_product_attention`."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    logits = torch.matmul(q[:, :, :1], k.transpose(-2, -1)) * scale  # (B, h, 1, N)
    full = _with_causal(mask, causal, q.shape[-2], k.shape[-2], q.device)
    if full is not None:
        logits = logits + additive_mask(full, logits.dtype)[..., :1, :]
    return logits.softmax(dim=-1)[:, :, 0, 1:].mean(dim=1)


# ---- multi-head self-attention ------------------------------------------------------------------------
@overload
def multi_head_attention(
    x: Tensor,
    qkv_weight: Tensor,
    proj_weight: Tensor,
    *,
    num_heads: int,
    qkv_bias: Tensor | None = None,
    proj_bias: Tensor | None = None,
    causal: bool = False,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    backend: Backend = "sdpa",
    return_class_attention: Literal[False] = False,
) -> Tensor: ...


@overload
def multi_head_attention(
    x: Tensor,
    qkv_weight: Tensor,
    proj_weight: Tensor,
    *,
    num_heads: int,
    qkv_bias: Tensor | None = None,
    proj_bias: Tensor | None = None,
    causal: bool = False,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    backend: Backend = "sdpa",
    return_class_attention: Literal[True],
) -> tuple[Tensor, Tensor]: ...


@overload
def multi_head_attention(
    x: Tensor,
    qkv_weight: Tensor,
    proj_weight: Tensor,
    *,
    num_heads: int,
    qkv_bias: Tensor | None = None,
    proj_bias: Tensor | None = None,
    causal: bool = False,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    backend: Backend = "sdpa",
    return_class_attention: bool,
) -> Tensor | tuple[Tensor, Tensor]: ...


def multi_head_attention(
    x: Tensor,
    qkv_weight: Tensor,
    proj_weight: Tensor,
    *,
    num_heads: int,
    qkv_bias: Tensor | None = None,
    proj_bias: Tensor | None = None,
    causal: bool = False,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    backend: Backend = "sdpa",
    return_class_attention: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Multi-head self-attention over the flattened tokens of ``x`` (Vaswani et al. 2017, eq. 1-2).

    Shapes: ``x`` is ``(B, *spatial, C)``; ``qkv_weight`` is ``(3 * D, C)`` with inner dim
    ``D = num_heads * head_dim`` (D may differ from C; see :func:`project_qkv`); ``proj_weight`` is
    ``(C, D)``. Each head computes ``softmax(q k^T / sqrt(head_dim) + M) v`` (eq. 1), heads are
    concatenated and projected back to C (eq. 2). ``causal`` lets token i attend only to tokens ``<= i``;
    ``mask`` is any further mask (``(N, N)`` or broadcastable to ``(B, h, N, N)``, boolean or additive, e.g. a
    :class:`~forwardkit.nn.RelativePositionBias`). ``dropout_p`` drops attention weights (pass 0 in
    evaluation). ``backend`` picks :func:`scaled_dot_product_attention` (``"sdpa"``) or
    :func:`attention_reference`. Returns ``(B, *spatial, C)``; with ``return_class_attention`` also the
    head-averaged class-token row ``(B, N - 1)`` of :func:`class_token_attention` (taken before dropout).
    """
    q, k, v = project_qkv(x, qkv_weight, qkv_bias, num_heads=num_heads)
    if backend == "sdpa":
        out = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal, dropout_p=dropout_p)
    elif backend == "reference":
        out = attention_reference(q, k, v, mask=mask, causal=causal, dropout_p=dropout_p)[0]
    else:
        raise ValueError(f"unknown attention backend {backend!r}; choose 'sdpa' or 'reference'")
    y = pointwise(merge_heads(out), proj_weight, proj_bias).reshape(x.shape)
    if return_class_attention:
        return y, class_token_attention(q, k, mask=mask, causal=causal)
    return y


def attention_scores(
    x: Tensor,
    qkv_weight: Tensor,
    *,
    num_heads: int,
    qkv_bias: Tensor | None = None,
    causal: bool = False,
    mask: Tensor | None = None,
) -> Tensor:
    """The pre-softmax scores ``q k^T / sqrt(head_dim) + M`` of :func:`multi_head_attention` (eq. 1),
    ``(B, h, N, N)``; masked-out entries are ``-inf``. ``softmax(-1)`` of it gives the weights."""
    q, k, _ = project_qkv(x, qkv_weight, qkv_bias, num_heads=num_heads)
    scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
    if causal:
        n = scores.shape[-1]
        future = torch.ones(n, n, dtype=torch.bool, device=scores.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    if mask is not None:
        scores = scores + additive_mask(mask, scores.dtype)
    return scores


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention on ``(B, *spatial, dim)`` (flattened tokens), a building block; see
    :func:`multi_head_attention`.

    ``num_heads = num_heads or max(dim // head_dim, 1)``; ``qkv``: Linear(dim, 3 * num_heads * head_dim),
    ``proj``: Linear(num_heads * head_dim, dim), then ``proj_drop``. No positional term: without a mask
    it is equivariant to token permutations. ``causal`` masks future tokens of the flattened order.

    A class that must call another base's ``__init__`` (the builtin ``attention`` token mixer) builds the
    same layers with :meth:`_init_layers`.
    """

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int | None = None,
        head_dim: int = 32,
        qkv_bias: bool = False,
        proj_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self._init_layers(dim=dim, num_heads=num_heads, head_dim=head_dim, qkv_bias=qkv_bias, proj_bias=proj_bias,
                          attn_drop=attn_drop, proj_drop=proj_drop, causal=causal)

    def _init_layers(
        self,
        *,
        dim: int,
        num_heads: int | None,
        head_dim: int,
        qkv_bias: bool,
        proj_bias: bool,
        attn_drop: float,
        proj_drop: float,
        causal: bool,
    ) -> None:
        self.num_heads = num_heads or max(dim // head_dim, 1)
        self.head_dim = head_dim
        self.causal = causal
        #: the probability of dropping an attention weight in training
        self.attn_drop = float(attn_drop)
        inner = self.num_heads * head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)

    def _attend(self, x: Tensor, mask: Tensor | None, need_class: bool) -> tuple[Tensor, Tensor | None]:
        result = multi_head_attention(
            x,
            self.qkv.weight,
            self.proj.weight,
            num_heads=self.num_heads,
            qkv_bias=self.qkv.bias,
            proj_bias=self.proj.bias,
            causal=self.causal,
            mask=mask,
            dropout_p=self.attn_drop if self.training else 0.0,
            return_class_attention=need_class,
        )
        out, row = result if isinstance(result, tuple) else (result, None)
        return self.proj_drop(out), row

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(B, *spatial, dim) -> (B, *spatial, dim)``, with an optional extra ``mask``."""
        return self._attend(x, mask, False)[0]

    def forward_with_class_attention(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The output of :meth:`forward` and the class token's head-averaged attention ``(B, N - 1)`` (token 0 is
        the class token; see :func:`class_token_attention`)."""
        out, row = self._attend(x, mask, True)
        assert row is not None
        return out, row

    def attention_scores(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Pre-softmax attention scores of ``x`` ``(B, *spatial, dim)``: ``(B, heads, N, N)`` over the flattened
        tokens (for inspection; ``.softmax(-1)`` gives the attention weights)."""
        return attention_scores(x, self.qkv.weight, num_heads=self.num_heads, qkv_bias=self.qkv.bias,
                                causal=self.causal, mask=mask)

    def extra_repr(self) -> str:
        return (f"dim={self.proj.out_features}, num_heads={self.num_heads}, head_dim={self.head_dim}, "
                f"causal={self.causal}")
