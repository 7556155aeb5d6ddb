"""Combiner-Axial (paper §4.3, Fig. 1(F) and 2) and the mixture (§3.3; official ``_AxialMixtureAtt``).

The ``L`` tokens form an ``n x m`` matrix (rows s, r, t; columns u, c, j; row-major = raster order). Heads
are reshaped to ``(B, h, n, m, d)``. Shared direct terms:

* ``row``: own row, columns ``<= u`` (LM) or all (MLM);
* ``col``: own column, rows strictly above (the query itself is in ``row``).

Factorisations (LM unless said):

* ``rowmajor`` (LM and MLM, official ``_SelfAttAxialRowmajor``): direct = own row; region r = each whole earlier
  row (MLM: every other row). The abstraction depends on the query's column u: ``v_hat_(r,u)`` is the full,
  unmasked row attention at ``(r, u)`` with the real query ``q_(r,u)``; the region key is the max-pool of row
  r's keys (paper §3.2) or a learned key per position (official code; ``region_key``).
* ``vertical``: direct = the axial sparse set (``row`` + ``col``); region c = column ``c != u`` above row s,
  abstractions by strict prefix pools down each column (the cumulative max of the paper).
* ``horizontal``: direct as vertical; region r = earlier row r without column u (one region per row, as the
  paper's text), abstractions pooled over the row without u.
* ``mixture_joint`` (official code): ``row`` + ``col`` + the vertical regions + every earlier row split into
  its part left of u and right of u (prefix / suffix pools), all in ONE softmax; the area above the query's
  row, minus its column, is covered twice (by a vertical and by a horizontal region).

Every variant costs ``O(L (n + m) d)`` (``O(L sqrt(L) d)`` for a square grid) plus ``O(L n d)`` or
``O(L m d)`` for the per-position abstractions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from forwardkit_combiner.grid import NEG
from forwardkit_combiner.joint import joint_softmax, local_softmax
from forwardkit_combiner.summaries import Summary

__all__ = ["axial_direct", "combiner_horizontal", "combiner_mixture_joint", "combiner_rowmajor",
           "combiner_vertical"]

RegionKey = Callable[[Tensor], Tensor]


def _grid(x: Tensor, rows: int) -> Tensor:
    b, h, length, d = x.shape
    return x.reshape(b, h, rows, length // rows, d)


def _flat(x: Tensor) -> Tensor:
    b, h, n, m, d = x.shape
    return x.reshape(b, h, n * m, d)


def _lower(size: int, *, strict: bool, device: torch.device) -> Tensor:
    """``(size, size)`` bool: ``t <= u`` (or ``t < u``) at ``[u, t]``."""
    return torch.ones(size, size, dtype=torch.bool, device=device).tril(-1 if strict else 0)


def axial_direct(qg: Tensor, kg: Tensor) -> tuple[Tensor, Tensor]:
    """The axial sparse set as logits: ``row`` ``(B, h, n, m, m)`` (columns ``t <= u``) and ``col``
    ``(B, h, n, m, n)`` (rows ``t < s``), masked entries NEG."""
    n, m = qg.shape[2], qg.shape[3]
    row = torch.einsum("bhsud,bhstd->bhsut", qg, kg).masked_fill(~_lower(m, strict=False, device=qg.device), NEG)
    above = _lower(n, strict=True, device=qg.device)[:, None, :]                      # [s, 1, t]: t < s
    col = torch.einsum("bhsud,bhtud->bhsut", qg, kg).masked_fill(~above, NEG)
    return row, col


def _direct_out(w_row: Tensor, w_col: Tensor, vg: Tensor) -> Tensor:
    return torch.einsum("bhsut,bhstd->bhsud", w_row, vg) + torch.einsum("bhsut,bhtud->bhsud", w_col, vg)


def combiner_rowmajor(q: Tensor, k: Tensor, v: Tensor, *, rows: int, causal: bool, key_summary: Summary | None,
                      region_key: RegionKey | None = None, dropout_p: float = 0.0) -> Tensor:
    """Combiner-Axial-rowmajor: q (pre-scaled), k ``(B, h, L, d)``, v ``(B, h, L, d_v)`` -> ``(B, h, L, d_v)``.

    ``region_key(v_hat)`` maps the row summaries ``(B, h, n, m, d_v)`` to per-position region keys
    ``(B, h, n, m, d)`` (the official learned key); None: ``key_summary`` max-pools each row's keys."""
    qg, kg, vg = _grid(q, rows), _grid(k, rows), _grid(v, rows)
    n, m = qg.shape[2], qg.shape[3]
    row_logits = torch.einsum("bhsud,bhstd->bhsut", qg, kg)                           # (B, h, n, m, m)
    v_hat = torch.einsum("bhsut,bhstd->bhsud", local_softmax(row_logits), vg)        # unmasked row attention
    direct = row_logits.masked_fill(~_lower(m, strict=False, device=q.device), NEG) if causal else row_logits
    if region_key is None:
        assert key_summary is not None
        region = torch.einsum("bhsud,bhrd->bhsur", qg, key_summary.pool(kg, dim=3))
    else:
        region = torch.einsum("bhsud,bhrud->bhsur", qg, region_key(v_hat))
    seg = torch.arange(n, device=q.device)
    allowed = seg[None, :] < seg[:, None] if causal else seg[None, :] != seg[:, None]    # [s, r]
    region = region.masked_fill(~allowed[:, None, :], NEG)
    w_direct, w_region = joint_softmax([direct, region], dropout_p=dropout_p)
    out = torch.einsum("bhsut,bhstd->bhsud", w_direct, vg) + torch.einsum("bhsur,bhrud->bhsud", w_region, v_hat)
    return _flat(out)


def _vertical_regions(qg: Tensor, kg: Tensor, vg: Tensor, query_summary: Summary,
                      key_summary: Summary) -> tuple[Tensor, Tensor]:
    """Region logits ``(B, h, n, m, m)`` ([s, u, c]: column c above row s, c != u) and their values
    ``(B, h, n, m, d_v)`` ([s, c]: the local expectation over rows < s of column c)."""
    n, m = qg.shape[2], qg.shape[3]
    k_pre, q_pre = key_summary.prefix(kg, dim=2), query_summary.prefix(qg, dim=2)      # pools of rows < s
    above = _lower(n, strict=True, device=qg.device)                                   # [s, t]: t < s
    local = torch.einsum("bhscd,bhtcd->bhcst", q_pre, kg).masked_fill(~above, NEG)
    v_hat = torch.einsum("bhcst,bhtcd->bhscd", local_softmax(local), vg)
    region = torch.einsum("bhsud,bhscd->bhsuc", qg, k_pre)
    empty = torch.eye(m, dtype=torch.bool, device=qg.device)[None] | (torch.arange(n, device=qg.device) == 0)[
        :, None, None]                                                                 # [s, u, c]
    return region.masked_fill(empty, NEG), v_hat


def combiner_vertical(q: Tensor, k: Tensor, v: Tensor, *, rows: int, query_summary: Summary,
                      key_summary: Summary, dropout_p: float = 0.0) -> Tensor:
    """Combiner-Axial-vertical (LM, Fig. 2(A)): shapes as :func:`combiner_rowmajor`."""
    qg, kg, vg = _grid(q, rows), _grid(k, rows), _grid(v, rows)
    row, col = axial_direct(qg, kg)
    region, v_hat = _vertical_regions(qg, kg, vg, query_summary, key_summary)
    w_row, w_col, w_reg = joint_softmax([row, col, region], dropout_p=dropout_p)
    return _flat(_direct_out(w_row, w_col, vg) + torch.einsum("bhsuc,bhscd->bhsud", w_reg, v_hat))


def combiner_horizontal(q: Tensor, k: Tensor, v: Tensor, *, rows: int, query_summary: Summary,
                        key_summary: Summary, dropout_p: float = 0.0) -> Tensor:
    """Combiner-Axial-horizontal (LM, Fig. 2(B)): region r = earlier row r without the query's column."""
    qg, kg, vg = _grid(q, rows), _grid(k, rows), _grid(v, rows)
    n, m = qg.shape[2], qg.shape[3]
    row, col = axial_direct(qg, kg)
    k_ex, q_ex = key_summary.except_self(kg, dim=3), query_summary.except_self(qg, dim=3)  # [r, u]: row r \ u
    not_self = ~torch.eye(m, dtype=torch.bool, device=q.device)                           # [u, j]
    local = torch.einsum("bhrud,bhrjd->bhruj", q_ex, kg).masked_fill(~not_self, NEG)
    v_hat = torch.einsum("bhruj,bhrjd->bhrud", local_softmax(local), vg)
    region = torch.einsum("bhsud,bhrud->bhsur", qg, k_ex)
    allowed = _lower(n, strict=True, device=q.device)[:, None, :] & (m > 1)              # [s, 1, r]: r < s
    w_row, w_col, w_reg = joint_softmax([row, col, region.masked_fill(~allowed, NEG)], dropout_p=dropout_p)
    return _flat(_direct_out(w_row, w_col, vg) + torch.einsum("bhsur,bhrud->bhsud", w_reg, v_hat))


def _side_regions(qg: Tensor, kg: Tensor, vg: Tensor, query_summary: Summary, key_summary: Summary,
                  *, right: bool) -> tuple[Tensor, Tensor]:
    """The mixture's horizontal halves: region ``[s, u, r]`` = row r < s, columns < u (``right``: > u); logits
    ``(B, h, n, m, n)`` and values ``(B, h, n, m, d_v)`` ([r, u])."""
    n, m = qg.shape[2], qg.shape[3]
    k_side = key_summary.prefix(kg, dim=3, reverse=right)
    q_side = query_summary.prefix(qg, dim=3, reverse=right)
    side = _lower(m, strict=True, device=qg.device)                                    # [u, j]: j < u
    side = side.T if right else side
    local = torch.einsum("bhrud,bhrjd->bhruj", q_side, kg).masked_fill(~side, NEG)
    v_hat = torch.einsum("bhruj,bhrjd->bhrud", local_softmax(local), vg)
    region = torch.einsum("bhsud,bhrud->bhsur", qg, k_side)
    edge = torch.arange(m, device=qg.device) == (m - 1 if right else 0)                  # no columns on that side
    allowed = _lower(n, strict=True, device=qg.device)[:, None, :] & ~edge[None, :, None]
    return region.masked_fill(~allowed, NEG), v_hat


def combiner_mixture_joint(q: Tensor, k: Tensor, v: Tensor, *, rows: int, query_summary: Summary,
                           key_summary: Summary, dropout_p: float = 0.0) -> Tensor:
    """Combiner-Mixture as the official ``_AxialMixtureAtt`` computes it: one joint softmax over direct row and
    column, the vertical regions and the left / right horizontal regions (shapes as :func:`combiner_rowmajor`)."""
    qg, kg, vg = _grid(q, rows), _grid(k, rows), _grid(v, rows)
    row, col = axial_direct(qg, kg)
    vert, v_vert = _vertical_regions(qg, kg, vg, query_summary, key_summary)
    left, v_left = _side_regions(qg, kg, vg, query_summary, key_summary, right=False)
    right, v_right = _side_regions(qg, kg, vg, query_summary, key_summary, right=True)
    w_row, w_col, w_vert, w_left, w_right = joint_softmax([row, col, vert, left, right], dropout_p=dropout_p)
    out = _direct_out(w_row, w_col, vg) + torch.einsum("bhsuc,bhscd->bhsud", w_vert, v_vert)
    out = out + torch.einsum("bhsur,bhrud->bhsud", w_left, v_left) + torch.einsum("bhsur,bhrud->bhsud", w_right,
                                                                                   v_right)
    return _flat(out)
