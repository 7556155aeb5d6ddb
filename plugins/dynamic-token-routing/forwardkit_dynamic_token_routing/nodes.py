"""The two computing edges of a routing-space node, each in a dense masked form and a gathered form.

* :class:`NodeBlock` — the Transformer-block edge T (pre-norm: ``y = u + Attn(LN1(u))``, ``out = y +
  MLP(LN2(y))``). ``dense`` computes every token of the node's grid (keys restricted by a mask) and is what
  training runs; ``sparse`` computes only the query tokens (the tokens taking T), with keys/values gathered from
  the key tokens, and returns their outputs as flat rows. Both compute the same numbers for the query tokens.
* :class:`DownEdge` — the patch-embedding edge D to the next coarser scale: a 2x2 stride-2 convolution (written
  as a linear map of each flattened 2x2 patch, zero-padded to an even grid) and a LayerNorm. ``dense`` computes
  every coarse token, ``sparse`` only the active ones.

Tensors are channels-last: node grids ``(B, H, W, C)``, masks ``(B, H, W)`` (True: the token is in the set).
"Flat rows" are ``x[mask]``: the selected tokens in row-major ``(b, h, w)`` order, ``(M, C)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.nn import FeedForward, merge_heads, scaled_dot_product_attention, split_heads


def padded(flat: Tensor, counts: Tensor) -> tuple[Tensor, Tensor]:
    """Flat rows ``(M, D)`` of B images with ``counts`` ``(B,)`` rows each -> ``(B, K, D)`` (K = max count,
    zero padding after each image's rows) and the valid mask ``(B, K)``."""
    k = int(counts.max()) if counts.numel() else 0
    valid = torch.arange(k, device=flat.device)[None, :] < counts[:, None]
    out = flat.new_zeros(counts.shape[0], k, flat.shape[-1])
    out[valid] = flat
    return out, valid


def key_mask(keys: Tensor) -> Tensor:
    """``(B, N)`` key set -> the boolean attention mask ``(B, 1, 1, N)``; an image with no key attends to every
    token instead (its rows are multiplied by a zero gate, this only avoids NaN)."""
    empty = ~keys.any(dim=-1, keepdim=True)
    return (keys | empty)[:, None, None, :]


class NodeAttention(nn.Module):
    """Multi-head self-attention of one node with a key set (Vaswani et al. 2017, eq. 1-2): fused ``qkv``
    ``Linear(C, 3C)`` and ``proj`` ``Linear(C, C)``; head width ``C / heads``."""

    def __init__(self, *, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def dense(self, h: Tensor, keys: Tensor) -> Tensor:
        """``h`` ``(B, N, C)`` normalised tokens, ``keys`` ``(B, N)`` -> ``(B, N, C)``: every token queries the
        key tokens."""
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        q, k, v = (split_heads(t, self.heads) for t in (q, k, v))
        out = scaled_dot_product_attention(q, k, v, mask=key_mask(keys))
        return self.proj(merge_heads(out))

    def plain(self, h: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)`` without any mask (the static network's attention)."""
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        q, k, v = (split_heads(t, self.heads) for t in (q, k, v))
        return self.proj(merge_heads(scaled_dot_product_attention(q, k, v)))

    def sparse(self, hq: Tensor, q_counts: Tensor, hk: Tensor, k_counts: Tensor) -> Tensor:
        """Queries ``hq`` ``(Mq, C)`` and keys ``hk`` ``(Mk, C)`` as flat rows of B images (``q_counts``,
        ``k_counts`` ``(B,)`` rows per image) -> ``(Mq, C)``: each query attends to its own image's keys only
        (padded per image, padding masked)."""
        dim = hq.shape[-1]
        w, b = self.qkv.weight, self.qkv.bias
        q = F.linear(hq, w[:dim], b[:dim])
        kv = F.linear(hk, w[dim:], b[dim:])
        qp, q_valid = padded(q, q_counts)
        kvp, k_valid = padded(kv, k_counts)
        k_valid = k_valid | (k_counts == 0)[:, None]  # no NaN in padding rows of key-less images
        kp, vp = kvp.chunk(2, dim=-1)
        qh, kh, vh = (split_heads(t.contiguous(), self.heads) for t in (qp, kp, vp))
        out = scaled_dot_product_attention(qh, kh, vh, mask=k_valid[:, None, None, :])
        return self.proj(merge_heads(out)[q_valid])


class NodeBlock(nn.Module):
    """The T edge: ``y = u + Mix(LN1(u))``, ``out = y + MLP(LN2(y))`` on ``(B, H, W, C)``.

    ``Mix`` is :class:`NodeAttention` (keys: the given key set) unless ``mixer`` is given: any rank-2 token
    mixer, run densely on the node's grid with the tokens outside ``active`` zeroed after LN1 (it cannot skip
    tokens); then only the MLP is gathered in the sparse form."""

    def __init__(self, *, dim: int, heads: int, mlp_ratio: float, norm_eps: float = 1e-6,
                 mixer: nn.Module | None = None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = NodeAttention(dim=dim, heads=heads) if mixer is None else None
        self.mixer = mixer
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = FeedForward(dim=dim, mlp_ratio=mlp_ratio)

    def _mix_dense(self, u: Tensor, keys: Tensor, active: Tensor) -> Tensor:
        h = self.norm1(u)
        if self.attn is not None:
            b, hh, ww, c = u.shape
            return self.attn.dense(h.reshape(b, hh * ww, c), keys.reshape(b, -1)).reshape(u.shape)
        assert self.mixer is not None
        return self.mixer(h * active[..., None].to(h.dtype))

    def dense(self, u: Tensor, keys: Tensor, active: Tensor) -> Tensor:
        """Every token of ``u`` ``(B, H, W, C)`` -> ``(B, H, W, C)``; ``keys``, ``active`` ``(B, H, W)``."""
        y = u + self._mix_dense(u, keys, active)
        return y + self.mlp(self.norm2(y))

    def plain(self, u: Tensor) -> Tensor:
        """The block of a static network: every token, no mask ``(B, H, W, C) -> (B, H, W, C)``."""
        h = self.norm1(u)
        if self.attn is not None:
            b, hh, ww, c = u.shape
            mixed = self.attn.plain(h.reshape(b, hh * ww, c)).reshape(u.shape)
        else:
            assert self.mixer is not None
            mixed = self.mixer(h)
        y = u + mixed
        return y + self.mlp(self.norm2(y))

    def sparse(self, u: Tensor, keys: Tensor, queries: Tensor, active: Tensor) -> Tensor:
        """Only the ``queries`` tokens ``(B, H, W)`` of ``u`` -> their outputs as flat rows ``(Mq, C)``."""
        if self.attn is not None:
            uq, uk = u[queries], u[keys]
            mixed = self.attn.sparse(self.norm1(uq), queries.flatten(1).sum(1), self.norm1(uk),
                                     keys.flatten(1).sum(1))
            y = uq + mixed
        else:
            y = (u + self._mix_dense(u, keys, active))[queries]
        return y + self.mlp(self.norm2(y))


def patchify(z: Tensor) -> Tensor:
    """``(B, H, W, C)`` -> ``(B, ceil(H/2), ceil(W/2), 4C)``: each 2x2 patch (zero-padded at odd borders)
    flattened in (dy, dx, c) order."""
    b, h, w, c = z.shape
    z = F.pad(z, (0, 0, 0, w % 2, 0, h % 2))
    h2, w2 = z.shape[1] // 2, z.shape[2] // 2
    return z.reshape(b, h2, 2, w2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h2, w2, 4 * c)


def coarse_any(mask: Tensor) -> Tensor:
    """``(B, H, W)`` bool -> ``(B, ceil(H/2), ceil(W/2))``: a coarse token is active iff one of its 2x2 children
    is (card, "a coarse token is active if any child is")."""
    return coarse_max(mask.to(torch.float32)) > 0


def coarse_max(values: Tensor) -> Tensor:
    """``(B, H, W)`` -> ``(B, ceil(H/2), ceil(W/2))``: the largest of each 2x2 patch (differentiable, to the
    argmax child); borders of odd grids see only their real children."""
    return F.max_pool2d(values[:, None], 2, ceil_mode=True)[:, 0]


class DownEdge(nn.Module):
    """The D edge from scale s (``C``) to s+1 (``C_out``): 2x2 stride-2 patch embedding + LayerNorm."""

    def __init__(self, *, dim: int, out_dim: int, norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.proj = nn.Linear(4 * dim, out_dim)
        self.norm = nn.LayerNorm(out_dim, eps=norm_eps)

    def dense(self, z: Tensor) -> Tensor:
        """``(B, H, W, C)`` (already multiplied by w_D) -> every coarse token ``(B, H', W', C_out)``."""
        return self.norm(self.proj(patchify(z)))

    def sparse(self, z: Tensor, coarse: Tensor) -> Tensor:
        """Only the coarse tokens in ``coarse`` ``(B, H', W')`` -> flat rows ``(M', C_out)``."""
        return self.norm(self.proj(patchify(z)[coarse]))
