"""Blocked local self-attention with a halo (HaloNet, Vaswani et al. 2021) and the centred-window SASA baseline.

Both mixers work channels-last on ``(B, *spatial, C)`` tokens of spatial rank r (1 sequences, 2 images, 3 volumes).
Section 2 of the paper: queries are split into non-overlapping blocks of side b; every query of a block attends to
the same haloed window of side w = b + 2h around its block, extracted once per block (``Tensor.unfold`` with stride
b), which is what makes it faster than SASA, whose centred k^r window is extracted once per pixel (stride 1).
The logits are ``q k^T / sqrt(d_k) + R`` with the factorised relative term ``R = sum_axis q . r^axis[offset]``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit_halonet.config import HaloAttentionConfig, SasaAttentionConfig


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), one step up when that
    loses more than ``1 - round_limit`` of it: timm's channel rounding (``timm.layers.make_divisible``)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < round_limit * value else out


def head_dims(dim: int, num_heads: int, dim_head: int | None) -> tuple[int, int]:
    """(d_k, d_v) per head: d_k = dim_head or make_divisible(C, 8) / n (timm's HaloAttn), d_v = C / n."""
    dk = dim_head if dim_head is not None else max(make_divisible(dim) // num_heads, 1)
    return dk, dim // num_heads


def _pad_channels_last(t: Tensor, before: list[int], after: list[int]) -> Tensor:
    """Zero-pad the spatial axes of ``(B, *spatial, D)``; ``before``/``after`` per spatial axis."""
    pad = [0, 0]
    for lo, hi in zip(reversed(before), reversed(after), strict=True):
        pad += [lo, hi]
    return F.pad(t, pad)


def _windows(t: Tensor, size: int, step: int, rank: int) -> Tensor:
    """``(B, *P, D)`` -> ``(B, prod(n), size^r, D)``: every window of side ``size`` at stride ``step``."""
    for axis in range(rank):
        t = t.unfold(1 + axis, size, step)                       # window axis appended at the end
    lead = t.shape[: 1 + rank]
    t = t.permute(0, *range(1, 1 + rank), *range(2 + rank, 2 + 2 * rank), 1 + rank)
    return t.reshape(lead[0], math.prod(lead[1:]), size**rank, t.shape[-1])


def _coords(side: int, rank: int, device: torch.device) -> Tensor:
    """``(side^r, r)`` integer coordinates of a flattened r-cube of side ``side`` (row-major)."""
    axes = torch.meshgrid(*[torch.arange(side, device=device)] * rank, indexing="ij")
    return torch.stack([a.reshape(-1) for a in axes], dim=-1)


def relative_logits(q: Tensor, tables: list[Tensor], offsets: Tensor) -> Tensor:
    """Factorised relative-position logits (paper sec. 2, the 2-D relative embeddings of SASA).

    ``q``: ``(..., Q, d_k)``; ``tables[a]``: ``(T, d_k)`` for spatial axis a; ``offsets``: ``(Q, K, r)`` integer
    table indices. Returns ``(..., Q, K)`` with ``R[i, j] = sum_a q_i . tables[a][offsets[i, j, a]]``.
    """
    out = None
    for axis, table in enumerate(tables):
        qr = q @ table.t()                                          # (..., Q, T)
        idx = offsets[..., axis].expand(*qr.shape[:-2], *offsets.shape[:2])
        term = qr.gather(-1, idx)
        out = term if out is None else out + term
    assert out is not None
    return out


QueryOffsets = Literal["pixel", "block"]


def halo_offsets(block: int, halo: int, rank: int, device: torch.device, *, query_stride: int = 1,
                 query_offsets: QueryOffsets = "pixel") -> Tensor:
    """``((b/s)^r, w^r, r)`` indices into a ``(2w - 1, d_k)`` table: key-window position minus query position.

    With a query stride s the block holds the queries at pixels ``0, s, 2s, ...``; ``query_offsets="pixel"``
    measures offsets from those pixels (so strided attention is stride-1 attention subsampled), ``"block"``
    from the query's index ``0, 1, 2, ...`` in the subsampled block (what timm's ``PosEmbedRel`` does with
    ``block_size // stride``). Both are the same at s = 1.
    """
    w = block + 2 * halo
    qc, kc = _coords(block // query_stride, rank, device), _coords(w, rank, device)
    if query_offsets == "pixel":
        qc = qc * query_stride
    return kc[None, :, :] - halo - qc[:, None, :] + (w - 1)


def sasa_offsets(kernel: int, rank: int, device: torch.device) -> Tensor:
    """``(1, k^r, r)`` indices into a ``(2k - 1, d_k)`` table: key offset from the centred query, shifted by k - 1."""
    p = kernel // 2
    return (_coords(kernel, rank, device) - p + (kernel - 1))[None]


def _split(qkv: Tensor, num_heads: int, dk: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(..., 2 n d_k + n d_v)`` -> q ``(..., n d_k)``, k ``(..., n d_k)``, v ``(..., n d_v)``."""
    n = num_heads * dk
    return qkv[..., :n], qkv[..., n:2 * n], qkv[..., 2 * n:]


def _heads(t: Tensor, num_heads: int) -> Tensor:
    """``(B, G, L, n*d)`` -> ``(B, G, n, L, d)``."""
    b, g, length, d = t.shape
    return t.view(b, g, length, num_heads, d // num_heads).transpose(2, 3)


def halo_attention(
    x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor | None, rel_tables: list[Tensor] | None,
    proj_weight: Tensor | None, proj_bias: Tensor | None, *, num_heads: int, dim_head: int, block_size: int,
    halo_size: int, scale_pos_embed: bool = False, mask_padding: bool = False, causal: bool = False,
    pad_to_block: bool = True, query_stride: int = 1, query_offsets: QueryOffsets = "pixel",
    return_attn: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Blocked local self-attention with halo (paper sec. 2, fig. 2), vectorised with ``unfold``.

    ``x``: ``(B, *spatial, C)``; ``qkv_weight``: ``(2 n d_k + n d_v, C)``; ``rel_tables``: r tables ``(2w-1, d_k)``
    or None; ``proj_weight``: ``(C, n d_v)`` or None. Returns ``(B, *spatial, C_out)``. Steps 1-5 of the card:
    project, block the queries, extract one zero-padded (b+2h)^r window of keys/values per block, softmax over
    ``q k^T / sqrt(d_k) + R``, merge heads and blocks back. ``return_attn``: also return the softmax weights
    ``(B, G, n, (b/s)^r, w^r)`` (G blocks in row-major order).

    ``query_stride`` s > 1 is the strided self-attentive downsampling of card step 6 (timm's ``HaloAttn(stride=2)``):
    only the queries at pixels ``0, s, 2s, ...`` (a ``(b/s)^r`` sub-block per block) are computed, each against
    its block's full haloed window; the result is ``(B, *ceil(spatial / s), C_out)``. ``query_offsets`` picks
    the relative offsets of those queries (:func:`halo_offsets`).
    """
    batch, *spatial, _ = x.shape
    rank, b, h, st = len(spatial), block_size, halo_size, query_stride
    w = b + 2 * h
    if not pad_to_block and any(s % b for s in spatial):
        raise ValueError(f"halo_attention: grid {tuple(spatial)} is not divisible by block_size={b} "
                         "(set pad_to_block=True)")
    if causal and rank != 1:
        raise ValueError(f"halo_attention: causal=True needs rank 1 tokens, got grid {tuple(spatial)}")
    if st < 1 or b % st or (causal and st > 1):
        raise ValueError(f"halo_attention: query_stride={st} must divide block_size={b} (and be 1 when causal)")
    padded = [math.ceil(s / b) * b for s in spatial]
    extra = [p - s for p, s in zip(padded, spatial, strict=True)]
    # step 1 (projection before padding: padded keys/values stay zero); strided queries only where needed
    if st == 1:
        q, k, v = _split(F.linear(x, qkv_weight, qkv_bias), num_heads, dim_head)
    else:
        nq = dim_head * num_heads
        q = F.linear(x[(slice(None), *[slice(None, None, st)] * rank)], qkv_weight[:nq],
                     None if qkv_bias is None else qkv_bias[:nq])
        kv = F.linear(x, qkv_weight[nq:], None if qkv_bias is None else qkv_bias[nq:])
        k, v = kv[..., :nq], kv[..., nq:]
    nblocks, bq = [p // b for p in padded], b // st
    # step 2: queries in blocks of (b/s)^r
    q_extra = [p // st - n for p, n in zip(padded, q.shape[1:-1], strict=True)]
    qb = _pad_channels_last(q, [0] * rank, q_extra).reshape(batch, *[m for n in nblocks for m in (n, bq)], -1)
    qb = qb.permute(0, *range(1, 2 * rank, 2), *range(2, 2 * rank + 1, 2), 2 * rank + 1)
    qb = qb.reshape(batch, math.prod(nblocks), bq**rank, -1)
    # step 3: one haloed window of keys/values per block
    kw, vw = (_windows(_pad_channels_last(t, [h] * rank, [h + e for e in extra]), w, b, rank) for t in (k, v))
    qh, kh, vh = _heads(qb, num_heads), _heads(kw, num_heads), _heads(vw, num_heads)
    # step 4: logits
    scale = dim_head**-0.5
    logits = (qh @ kh.transpose(-1, -2)) * scale                    # (B, G, n, b^r, w^r)
    if rel_tables is not None:
        offsets = halo_offsets(b, h, rank, x.device, query_stride=st, query_offsets=query_offsets)
        rel = relative_logits(qh, rel_tables, offsets)
        logits = logits + (rel * scale if scale_pos_embed else rel)
    masked = None
    if mask_padding:
        valid = _pad_channels_last(torch.ones(1, *spatial, 1, device=x.device), [h] * rank, [h + e for e in extra])
        masked = _windows(valid, w, b, rank)[0, :, :, 0] == 0        # (G, w^r)
        masked = masked[None, :, None, None, :]
    if causal:
        qc, kc = _coords(b, 1, x.device)[:, 0], _coords(w, 1, x.device)[:, 0]
        future = (kc[None, :] - h) > qc[:, None]                     # (b, w): key after the query
        masked = future if masked is None else masked | future
    if masked is not None:
        logits = logits.masked_fill(masked, float("-inf"))
    attn = logits.softmax(dim=-1)
    out = attn @ vh                                                 # step 5: (B, G, n, (b/s)^r, d_v)
    out = out.transpose(2, 3).reshape(batch, *nblocks, *[bq] * rank, -1)
    perm = [0] + [m for a in range(rank) for m in (1 + a, 1 + rank + a)] + [1 + 2 * rank]
    out = out.permute(*perm).reshape(batch, *[p // st for p in padded], -1)
    out = out[(slice(None), *[slice(0, -(-s // st)) for s in spatial])]
    out = F.linear(out, proj_weight, proj_bias) if proj_weight is not None else out
    return (out, attn) if return_attn else out


def halo_attention_reference(
    x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor | None, rel_tables: list[Tensor] | None,
    proj_weight: Tensor | None, proj_bias: Tensor | None, *, num_heads: int, dim_head: int, block_size: int,
    halo_size: int, scale_pos_embed: bool = False, mask_padding: bool = False, query_stride: int = 1,
    query_offsets: QueryOffsets = "pixel",
) -> Tensor:
    """Paper-literal rank-2 halo attention: a Python loop over blocks, slicing each padded window explicitly.

    ``x``: ``(B, H, W, C)`` with H, W divisible by b. Same arguments and result as :func:`halo_attention`; the
    relative term is indexed pair by pair, ``r^h[ky - h - py + w - 1] . q + r^w[kx - h - px + w - 1] . q``,
    where ``(py, px)`` is the query's pixel in its block (``"pixel"``) or its index in the subsampled block
    (``"block"``); with ``query_stride`` s the queries of a block are its pixels ``(s i, s j)``.
    """
    batch, height, width, _ = x.shape
    b, h, st = block_size, halo_size, query_stride
    w, bq = b + 2 * h, b // st
    q, k, v = _split(F.linear(x, qkv_weight, qkv_bias), num_heads, dim_head)
    kp = F.pad(k, (0, 0, h, h, h, h))
    vp = F.pad(v, (0, 0, h, h, h, h))
    valid = F.pad(torch.ones(height, width, device=x.device), (h, h, h, h)).bool()
    out = torch.zeros(batch, height // st, width // st, v.shape[-1], dtype=x.dtype, device=x.device)
    dv = v.shape[-1] // num_heads
    for by in range(0, height, b):
        for bx in range(0, width, b):
            qb = q[:, by:by + b:st, bx:bx + b:st].reshape(batch, bq * bq, num_heads, dim_head).transpose(1, 2)
            kb = kp[:, by:by + w, bx:bx + w].reshape(batch, w * w, num_heads, dim_head).transpose(1, 2)
            vb = vp[:, by:by + w, bx:bx + w].reshape(batch, w * w, num_heads, dv).transpose(1, 2)
            logits = qb @ kb.transpose(-1, -2) * dim_head**-0.5
            if rel_tables is not None:
                rel = torch.zeros_like(logits)
                for i in range(bq * bq):
                    qy, qx = divmod(i, bq)
                    py, px = (st * qy, st * qx) if query_offsets == "pixel" else (qy, qx)
                    for j in range(w * w):
                        ky, kx = divmod(j, w)
                        rh = rel_tables[0][ky - h - py + w - 1]
                        rw = rel_tables[1][kx - h - px + w - 1]
                        rel[..., i, j] = qb[..., i, :] @ rh + qb[..., i, :] @ rw
                logits = logits + (rel * dim_head**-0.5 if scale_pos_embed else rel)
            if mask_padding:
                keep = valid[by:by + w, bx:bx + w].reshape(-1)
                logits = logits.masked_fill(~keep, float("-inf"))
            ob = logits.softmax(-1) @ vb                                # (B, n, (b/s)^2, d_v)
            out[:, by // st:(by + b) // st, bx // st:(bx + b) // st] = ob.transpose(1, 2).reshape(batch, bq, bq, -1)
    return F.linear(out, proj_weight, proj_bias) if proj_weight is not None else out


def sasa_attention(
    x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor | None, rel_tables: list[Tensor] | None,
    proj_weight: Tensor | None, proj_bias: Tensor | None, *, num_heads: int, dim_head: int, kernel_size: int,
    scale_pos_embed: bool = False, mask_padding: bool = False,
) -> Tensor:
    """Stand-alone self-attention (SASA): every pixel attends to its own centred k^r window (zero-padded).

    ``x``: ``(B, *spatial, C)``; parameters as in :func:`halo_attention` with tables ``(2k-1, d_k)``. The windows
    are extracted with stride 1 (``unfold``), i.e. a separate k^r gather per query: the cost HaloNet removes.
    """
    batch, *spatial, _ = x.shape
    rank, p = len(spatial), kernel_size // 2
    q, k, v = _split(F.linear(x, qkv_weight, qkv_bias), num_heads, dim_head)
    n_tok = math.prod(spatial)
    kw, vw = (_windows(_pad_channels_last(t, [p] * rank, [p] * rank), kernel_size, 1, rank) for t in (k, v))
    qh = _heads(q.reshape(batch, n_tok, 1, -1), num_heads)          # (B, N, n, 1, d_k)
    kh, vh = _heads(kw, num_heads), _heads(vw, num_heads)           # (B, N, n, k^r, d)
    scale = dim_head**-0.5
    logits = (qh @ kh.transpose(-1, -2)) * scale
    if rel_tables is not None:
        rel = relative_logits(qh, rel_tables, sasa_offsets(kernel_size, rank, x.device))
        logits = logits + (rel * scale if scale_pos_embed else rel)
    if mask_padding:
        valid = _pad_channels_last(torch.ones(1, *spatial, 1, device=x.device), [p] * rank, [p] * rank)
        masked = _windows(valid, kernel_size, 1, rank)[0, :, :, 0] == 0
        logits = logits.masked_fill(masked[None, :, None, None, :], float("-inf"))
    out = (logits.softmax(dim=-1) @ vh).reshape(batch, *spatial, -1)
    return F.linear(out, proj_weight, proj_bias) if proj_weight is not None else out


def build_attention_parameters(module: nn.Module, dim: int, cfg: Any, table_len: int) -> None:
    """Give ``module`` the parameters of a local attention layer on ``dim`` channels (``cfg``: a config with
    ``num_heads``, ``dim_head``, ``qkv_bias``, ``rel_pos``, ``rank``, ``out_proj``): the fused projection
    ``qkv`` ``(n (2 d_k + d_v), C)``, one relative table ``(table_len, d_k)`` per spatial axis (trunc-normal,
    std d_k^-1/2, card step 4) and the optional output projection ``proj`` ``(C, n d_v)``."""
    module.dk, module.dv = head_dims(dim, cfg.num_heads, cfg.dim_head)
    module.qkv = nn.Linear(dim, cfg.num_heads * (2 * module.dk + module.dv), bias=cfg.qkv_bias)
    module.rel_tables = nn.ParameterList(
        [nn.Parameter(nn.init.trunc_normal_(torch.empty(table_len, module.dk), std=module.dk**-0.5))
         for _ in range(cfg.rank)] if cfg.rel_pos else [])
    module.proj = nn.Linear(cfg.num_heads * module.dv, dim) if cfg.out_proj else None


def attention_parameters(module: nn.Module) -> dict[str, Any]:
    """The tensors of :func:`build_attention_parameters` as the keyword arguments of the functional forms."""
    proj = module.proj
    return {"qkv_weight": module.qkv.weight, "qkv_bias": module.qkv.bias,
            "rel_tables": list(module.rel_tables) if len(module.rel_tables) else None,
            "proj_weight": None if proj is None else proj.weight, "proj_bias": None if proj is None else proj.bias}


class _LocalAttention(TokenMixer):
    """Parameters shared by both mixers: fused q/k/v projection, one relative table per axis, output projection."""

    ranks = (1, 2, 3)

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {"rank": len(spatial)}

    def _build(self, table_len: int) -> None:
        build_attention_parameters(self, self.dim, self.config, table_len)

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return super().supports(spatial) and len(spatial) == self.config.rank

    def _params(self) -> dict[str, Any]:
        return attention_parameters(self)

    def _check(self, x: Tensor) -> None:
        spatial = tuple(x.shape[1:-1])
        if x.shape[-1] != self.dim or not self.supports(spatial):
            raise ValueError(f"{type(self).__name__}: got input {tuple(x.shape)}; expects (B, *spatial, {self.dim}) "
                             f"with rank {self.config.rank} (config field 'rank')"
                             + ("" if self.supports(spatial) or len(spatial) != self.config.rank else
                                f" and a grid divisible by block_size={getattr(self.config, 'block_size', '')}"))


class HaloAttention(_LocalAttention):
    """HaloNet's blocked local self-attention with halo on ``(B, *spatial, C)`` -> ``(B, *spatial, C)``."""

    Config = HaloAttentionConfig
    config: HaloAttentionConfig
    #: the modes the kit checks (drawn configs near the defaults, b=8 h=3 windows of 14^r, made it too slow)
    conformance_configs = [
        {"block_size": 2, "halo_size": 1, "num_heads": 1},
        {"block_size": 3, "halo_size": 1, "num_heads": 1, "mask_padding": True, "scale_pos_embed": True},
        {"block_size": 2, "halo_size": 0, "num_heads": 1, "rel_pos": False, "qkv_bias": True, "out_proj": False},
        {"block_size": 2, "halo_size": 2, "num_heads": 1, "causal": True},
    ]

    def __init__(self, config: HaloAttentionConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.causal = self.config.causal
        self._build(2 * (self.config.block_size + 2 * self.config.halo_size) - 1)

    def supports(self, spatial: tuple[int, ...]) -> bool:
        cfg = self.config
        if cfg.causal and len(spatial) != 1:
            return False
        return super().supports(spatial) and (cfg.pad_to_block or all(s % cfg.block_size == 0 for s in spatial))

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        cfg = self.config
        return halo_attention(x, **self._params(), num_heads=cfg.num_heads, dim_head=self.dk,
                              block_size=cfg.block_size, halo_size=cfg.halo_size,
                              scale_pos_embed=cfg.scale_pos_embed, mask_padding=cfg.mask_padding,
                              causal=cfg.causal, pad_to_block=cfg.pad_to_block)


class SasaAttention(_LocalAttention):
    """SASA centred-window local self-attention on ``(B, *spatial, C)`` -> ``(B, *spatial, C)`` (baseline)."""

    Config = SasaAttentionConfig
    config: SasaAttentionConfig
    causal = False
    conformance_configs = [
        {"kernel_size": 3, "num_heads": 1},
        {"kernel_size": 5, "num_heads": 1, "mask_padding": True, "rel_pos": False, "qkv_bias": True},
    ]

    def __init__(self, config: SasaAttentionConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._build(2 * self.config.kernel_size - 1)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        cfg = self.config
        return sasa_attention(x, **self._params(), num_heads=cfg.num_heads, dim_head=self.dk,
                              kernel_size=cfg.kernel_size, scale_pos_embed=cfg.scale_pos_embed,
                              mask_padding=cfg.mask_padding)
