"""Analytic multiply-accumulates of EViT-ViT (EViT sec. 3.3: attention O(N'^2 C), MLP O(N' C^2)).

Convention (the same as :func:`forwardkit.measure.count_macs`, torch's FLOP counter / 2): the MACs of the
matrix products and convolutions only (patch embedding, qkv, ``QK^T`` and ``AV``, projections, the class
query's extra row, the fusion product, the MLPs, the head); norms, softmax, GELU and additions are not counted.
"""

from __future__ import annotations

from torch import nn

from forwardkit_evit.model import EViTViT
from forwardkit_evit.reorganize import TokenReorganizer, keep_count


def block_macs(n_in: int, n_out: int, dim: int, hidden: int, *, cls_row: bool, fused: int) -> int:
    """One block on ``n_in`` tokens (class token included) whose FFN runs on ``n_out`` tokens:
    qkv ``3 N C^2`` + ``QK^T``/``AV`` ``2 N^2 C`` + proj ``N C^2`` (+ class row ``N C``) (+ fusion
    ``fused * C``) + MLP ``2 N' C hidden``."""
    macs = 3 * n_in * dim * dim + 2 * n_in * n_in * dim + n_in * dim * dim
    if cls_row:
        macs += n_in * dim
    macs += fused * dim
    return macs + 2 * n_out * dim * hidden


def analytic_macs(model: EViTViT, keep_rate: float | None = None) -> int:
    """MACs of one image through ``model`` at the kappas in force (or at ``keep_rate`` for every reorganiser)."""
    cfg = model.config
    dim, hidden = cfg.dim, max(round(cfg.mlp_ratio * cfg.dim), 1)
    m = model.num_patches
    macs = m * cfg.patch_size * cfg.patch_size * cfg.in_channels * dim
    for block in model.blocks:
        reorganizer = getattr(block, "reorganizer", None)
        rate = 1.0
        if isinstance(reorganizer, TokenReorganizer):
            rate = reorganizer.keep_rate if keep_rate is None or reorganizer.config.keep_rate >= 1.0 else keep_rate
        k = keep_count(m, rate)
        if isinstance(reorganizer, TokenReorganizer) and k < m:
            m_out = k + (1 if reorganizer.config.fuse else 0)
            fused = (m - k) if reorganizer.config.fuse else 0
            macs += block_macs(1 + m, 1 + m_out, dim, hidden, cls_row=True, fused=fused)
            m = m_out
        else:
            macs += block_macs(1 + m, 1 + m, dim, hidden, cls_row=False, fused=0)
    return macs + dim * cfg.num_classes


def measured_macs(model: nn.Module, batch_size: int = 2) -> float:
    """MACs per image counted by torch's FLOP counter (:func:`forwardkit.measure.count_macs`) in eval mode."""
    import torch

    from forwardkit.measure import count_macs

    was_training = model.training
    model.eval()
    x = model.example_batch(batch_size, generator=torch.Generator().manual_seed(0))["x"]  # type: ignore[operator]
    try:
        return count_macs(lambda: model(x)) / batch_size
    finally:
        model.train(was_training)
