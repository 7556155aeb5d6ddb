"""EFN, CFSR's edge-preserving feed-forward network (paper sec. III-C, eq. 4-6; official ``MLP``).

On channels-last tokens ``(B, H, W, C)``, hidden width ``rC`` (``r = 2``)::

    z  = LN(x)                                       (inner_norm; the block's pre-norm otherwise)
    t  = GELU(W_1 z)                                 1x1 conv C -> rC
    u  = DW_3(t) + sum_e (s_e * (K_e conv t) + b_e)  e in {Sobel-x, Sobel-y, Laplacian}: fixed 3x3 filters
    t' = t + GELU(u)                                 local aggregation with a residual
    out = W_2 t'                                     1x1 conv rC -> C

The edge branches have learnable per-channel scales ``s_e`` and biases ``b_e`` (init N(0, 1e-3^2)); for
inference they fold into ``DW_3`` (:class:`~forwardkit_cfsr.reparam.RepDepthwise`), so the deployed EFN is
a depthwise-conv FFN. It mixes neighbouring positions, hence ``pointwise = False`` (the core's declaration for
a non-pointwise channel mixer); the filters are 2-D, so it takes images only. Cost ``O(N C (2 r C + 9 r))``.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import ChannelMixer
from forwardkit.nn import Pointwise
from forwardkit_cfsr.config import EdgeFFNConfig
from forwardkit_cfsr.reparam import RepDepthwise, to_first, to_last

__all__ = ["EdgeFFN", "edge_ffn"]


def edge_ffn(x: Tensor, fc1: nn.Module, dw: nn.Module, fc2: nn.Module) -> Tensor:
    """``fc2(t + GELU(dw(t)))`` with ``t = GELU(fc1(x))`` (eq. 4-6) on ``(B, H, W, C)``; ``dw`` acts on
    ``(B, rC, H, W)``."""
    t = F.gelu(fc1(x))
    return fc2(t + F.gelu(to_last(dw(to_first(t)))))


class EdgeFFN(ChannelMixer):
    """EFN ``(B, H, W, C)`` -> same: expansion, edge-preserving depthwise aggregation, projection."""

    Config = EdgeFFNConfig
    config: EdgeFFNConfig
    pointwise = False
    ranks = frozenset({2})

    def __init__(self, config: EdgeFFNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c, dim = self.config, self.dim
        hidden = max(1, round(dim * c.ratio))
        self.norm = nn.LayerNorm(dim, eps=1e-6) if c.inner_norm else None
        self.fc1 = Pointwise(dim, hidden)
        self.dw = RepDepthwise(rank=2, channels=hidden, kernel=c.kernel_size, edges=c.edge_kernels,
                               variant=c.kernel_variant, scale_init_std=c.scale_init_std, merged=c.merged)
        self.fc2 = Pointwise(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"edge_ffn takes images (B, H, W, C), got {tuple(x.shape)}")
        z = self.norm(x) if self.norm is not None else x
        return edge_ffn(z, self.fc1, self.dw, self.fc2)
