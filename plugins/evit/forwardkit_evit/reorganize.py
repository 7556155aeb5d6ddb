"""EViT's token reorganisation (sec. 3.2, Fig. 2): keep the attentive patch tokens, fuse the rest into one.

Tokens are ``(B, 1 + M, C)``: the class token at index 0, then ``M`` patch tokens (the fused token of an
earlier reorganisation counts as a patch token). The result is ``(B, 1 + K (+1), C)`` with
``K = ceil(kappa * M)``; the extra token is the fused one (``fuse=True``), last.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from forwardkit.interfaces.base import Component
from forwardkit_evit.config import TokenReorganizerConfig


def keep_count(num_patches: int, keep_rate: float) -> int:
    """``K = ceil(kappa * M)`` patch tokens kept out of ``M`` (official ``math.ceil``, not round/floor)."""
    return min(num_patches, math.ceil(keep_rate * num_patches))


class Reorganized(NamedTuple):
    """Output tokens ``(B, 1 + K (+1), C)``, kept indices ``(B, K)`` and complement indices ``(B, M - K)``
    (positions among the ``M`` patch tokens of the input; ``None`` when nothing was reorganised)."""

    tokens: Tensor
    keep_idx: Tensor | None
    drop_idx: Tensor | None


def select_tokens(
    cls_attn: Tensor,
    keep: int,
    *,
    selection: str = "cls_attention",
    keep_order: str = "score",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Indices ``(B, K)`` of the kept and ``(B, M - K)`` of the other patch tokens.

    ``cls_attention``: the top-K of ``cls_attn`` ``(B, M)`` (EViT eq. for the attentive set), sorted by
    descending score like ``torch.topk(sorted=True)`` in the official code; ``random``: K tokens drawn
    uniformly (ablation control; ``generator`` makes it reproducible). ``keep_order='spatial'`` re-sorts the
    kept indices by position.
    """
    scores = cls_attn.detach()
    if selection == "random":
        scores = torch.rand(scores.shape, generator=generator, device=scores.device)
    elif selection != "cls_attention":
        raise ValueError(f"unknown selection {selection!r}")
    order = torch.argsort(scores, dim=1, descending=True, stable=True)  # (B, M)
    keep_idx, drop_idx = order[:, :keep], order[:, keep:]
    if keep_order == "spatial":
        keep_idx = keep_idx.sort(dim=1).values
    return keep_idx, drop_idx


def _gather(x: Tensor, idx: Tensor) -> Tensor:
    """``x[b, idx[b, k], :]``: ``(B, M, C)``, ``(B, K)`` -> ``(B, K, C)``."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def reorganize_tokens(
    x: Tensor,
    cls_attn: Tensor,
    keep_rate: float,
    fuse: bool = True,
    *,
    selection: str = "cls_attention",
    keep_order: str = "score",
    generator: torch.Generator | None = None,
) -> Reorganized:
    """Reorganise ``x`` ``(B, 1 + M, C)`` by the class attention ``cls_attn`` ``(B, M)`` of the same block.

    ``K = ceil(kappa M)`` tokens are kept (:func:`select_tokens`); with ``fuse`` the complement ``C`` becomes
    one token ``x_fused = sum_{j in C} a_j x_j`` with the raw attention weights ``a_j`` (not renormalised,
    as in the official code), appended last. Returns ``[x_cls, x_keep (, x_fused)]`` ``(B, 1 + K (+1), C)``.
    When ``K = M`` (e.g. ``kappa = 1``) the input is returned unchanged (the very tensor).
    """
    num_patches = x.shape[1] - 1
    if cls_attn.shape != (x.shape[0], num_patches):
        raise ValueError(f"cls_attn must be (B, M) = {(x.shape[0], num_patches)}, got {tuple(cls_attn.shape)}")
    keep = keep_count(num_patches, keep_rate)
    if keep >= num_patches:
        return Reorganized(x, None, None)
    keep_idx, drop_idx = select_tokens(
        cls_attn, keep, selection=selection, keep_order=keep_order, generator=generator
    )
    patches = x[:, 1:]
    parts = [x[:, :1], _gather(patches, keep_idx)]
    if fuse:
        weights = torch.gather(cls_attn, 1, drop_idx)  # (B, M - K), raw a_j
        fused = torch.bmm(weights.unsqueeze(1), _gather(patches, drop_idx))  # (B, 1, C)
        parts.append(fused)
    return Reorganized(torch.cat(parts, dim=1), keep_idx, drop_idx)


class TokenReorganizer(Component, nn.Module):
    """Module form of :func:`reorganize_tokens`, applied between the MHSA and the FFN of a block.

    NOT shape preserving ``(B, 1 + M, C) -> (B, 1 + K (+1), C)``, so it is not a TokenMixer (nor registered as
    one). ``keep_rate`` is the configured kappa; ``runtime_keep_rate`` (set by :class:`KeepRateSchedule` or
    :func:`set_keep_rate`) overrides it while not None, and only on reorganisers configured with kappa < 1, as
    in the official code. ``last_keep_idx`` / ``last_drop_idx`` hold the indices of the last forward.
    """

    Config = TokenReorganizerConfig
    config: TokenReorganizerConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        nn.Module.__init__(self)
        self._init_config(config, overrides)
        self.runtime_keep_rate: float | None = None
        self.last_keep_idx: Tensor | None = None
        self.last_drop_idx: Tensor | None = None

    @property
    def keep_rate(self) -> float:
        """The kappa in force: the runtime value while set (only when configured < 1), else the configured one."""
        configured = self.config.keep_rate
        if configured < 1.0 and self.runtime_keep_rate is not None:
            return float(self.runtime_keep_rate)
        return float(configured)

    @property
    def active(self) -> bool:
        return self.keep_rate < 1.0

    def forward(self, x: Tensor, cls_attn: Tensor) -> Tensor:
        """``x`` ``(B, 1 + M, C)``, ``cls_attn`` ``(B, M)`` -> ``(B, 1 + K (+1), C)``."""
        cfg = self.config
        out = reorganize_tokens(
            x, cls_attn, self.keep_rate, cfg.fuse, selection=cfg.selection, keep_order=cfg.keep_order
        )
        self.last_keep_idx, self.last_drop_idx = out.keep_idx, out.drop_idx
        return out.tokens

    def extra_repr(self) -> str:
        cfg = self.config
        return f"keep_rate={cfg.keep_rate}, fuse={cfg.fuse}, selection={cfg.selection}, keep_order={cfg.keep_order}"
