"""PoolFormer's pooling token mixer (paper sec. 3.3, PoolFormerV2; Yu et al. 2022, eq. 4): ``avgpool(x) - x``.

Channels-last in and out, without a copy: ``(B, *spatial, C)`` permuted to ``(B, C, *spatial)`` is a
view with channels-last strides, which ``avg_pool2d`` / ``avg_pool3d`` process natively, and the
result permuted back is again a contiguous ``(B, *spatial, C)`` tensor. The subtraction is fused into
one autograd function (in place on the pooled output, and on the pooled gradient in the backward),
which saves the extra passes of ``pool(x) - x`` under autograd. Rank-1 tokens are pooled as images of
height 1; rank-3 tokens by two 2-D pools (the average is separable).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.interfaces import TokenMixer
from forwardkit_metaformer_baselines.config import PoolingConfig


class _PoolMinusInput(torch.autograd.Function):
    """``avgpool(x) - x`` on a channels-first view ``(B, C, H, W)`` (channels-last strides), stride 1."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, kernel: list[int], include_pad: bool) -> Tensor:
        padding = [k // 2 for k in kernel]
        ones = [1] * len(kernel)
        y = F.avg_pool2d(x, kernel, ones, padding, count_include_pad=include_pad)
        ctx.save_for_backward(x)
        ctx.args = (kernel, ones, padding, include_pad)
        return y.sub_(x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        kernel, ones, padding, include_pad = ctx.args
        grad_x = torch.ops.aten.avg_pool2d_backward(grad, x, kernel, ones, padding, False, include_pad, None)
        return grad_x.sub_(grad), None, None


def _pool3d_mix(x: Tensor, k: int, include_pad: bool) -> Tensor:
    """``avgpool(x) - x`` for ``(B, T, H, W, C)``: the 3-D average is separable (window sums and valid
    counts both factor over the axes), so it is a 2-D pool over ``(H, W)`` then a pool over ``T``, both on
    channels-last views (``avg_pool3d`` neither keeps channels-last strides nor accepts axes shorter than k)."""
    b, t, h, w, c = x.shape
    frames = x.reshape(b * t, h, w, c).movedim(-1, 1)  # (B*T, C, H, W), channels-last strides
    pooled = F.avg_pool2d(frames, k, 1, k // 2, count_include_pad=include_pad)  # (B*T, C, H, W)
    pooled = pooled.movedim(1, -1).reshape(b, t, h * w, c).movedim(-1, 1)  # (B, C, T, H*W)
    pooled = F.avg_pool2d(pooled, (k, 1), 1, (k // 2, 0), count_include_pad=include_pad)
    return pooled.movedim(1, -1).reshape(x.shape) - x


#: below this many elements per intra-op thread the fused autograd function's fixed cost (tens of us of Python
#: per forward+backward) outweighs the pass it saves, and plain ``pool(x) - x`` is faster. Chosen from
#: benchmarks/pool_dispatch.py (reports/pool_dispatch.json; fwd+bwd, interleaved, medians of paired ratios, AMD
#: EPYC, torch 2.13), fused time over plain: 1 thread 1.28 at 25k elements, 1.02-1.03 at 100k, 0.98 at 125k,
#: 0.85-0.92 from 200k; 2 threads 1.26 at 25k, 1.17-1.19 at 100k, 1.13 at 125k, 1.01-1.06 at 200k, 0.96 at
#: 251k, 0.94-0.97 at 301k. The stages of the speed bar (batch 8-32) are all above it, at 1 and 2 threads,
#: except 8 x 7 x 7 x 512 on 2 threads; the bake-off's small maps are below.
FUSED_MIN_ELEMENTS_PER_THREAD = 125_000


def pool_mix(x: Tensor, pool_size: int = 3, count_include_pad: bool = False, *, fused: bool | None = None) -> Tensor:
    """PoolFormer token mixing ``avgpool(x) - x`` (Yu et al. 2022, eq. 4; stride 1, zero padding
    ``pool_size // 2``, by default averaging only the valid positions at borders).

    ``x`` is ``(B, N, C)``, ``(B, H, W, C)`` or ``(B, T, H, W, C)``; returns the same shape, contiguous
    when ``x`` is. The block's residual adds ``x`` back, so the block computes ``avgpool(x)``. ``fused``
    picks the fused autograd function (True) or plain ops (False) for ranks 1 and 2; None chooses by size
    and thread count (:data:`FUSED_MIN_ELEMENTS_PER_THREAD`). Both compute the same values and gradients.
    """
    rank = x.dim() - 2
    if rank not in (1, 2, 3):
        raise ValueError(f"pooling supports spatial ranks 1, 2, 3; got input of shape {tuple(x.shape)}")
    if pool_size % 2 == 0:
        raise ValueError(f"pool_size must be odd, got {pool_size}")
    if rank == 3:
        return _pool3d_mix(x, pool_size, count_include_pad)
    if rank == 1:  # pooled as an image of height 1
        view, kernel = x.unsqueeze(1).movedim(-1, 1), [1, pool_size]  # (B, C, 1, N)
    else:
        view, kernel = x.movedim(-1, 1), [pool_size] * 2  # (B, C, H, W), channels-last strides: no copy
    if fused is None:
        fused = x.numel() >= FUSED_MIN_ELEMENTS_PER_THREAD * torch.get_num_threads()
    if fused:
        mixed = _PoolMinusInput.apply(view, kernel, count_include_pad)
    else:
        mixed = F.avg_pool2d(view, kernel, 1, [k // 2 for k in kernel], count_include_pad=count_include_pad) - view
    out = mixed.movedim(1, -1)
    return out.squeeze(1) if rank == 1 else out


class Pooling(TokenMixer):
    """PoolFormer's token mixer on ``(B, *spatial, C)`` for spatial ranks 1, 2, 3: ``avgpool(x) - x``
    (see :func:`pool_mix`). No parameters; not causal."""

    Config = PoolingConfig
    config: PoolingConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)

    def forward(self, x: Tensor) -> Tensor:
        return pool_mix(x, self.config.pool_size, self.config.count_include_pad)

    def extra_repr(self) -> str:
        return f"pool_size={self.config.pool_size}, count_include_pad={self.config.count_include_pad}"
