"""ConvMod, CFSR's token mixer (paper sec. III-B, eq. 2-3; official ``ConvMod``, after Conv2Former).

Convolutional modulation on channels-last tokens ``(B, *spatial, C)``::

    z = LN(x)                          (inner_norm; the forwardkit block's pre-norm otherwise)
    a = DW_k(GELU(W_a z))              k = 9, the "attention" map from a large-kernel depthwise conv
    v = W_v z
    out = W_o (a * v)                  Hadamard product instead of softmax(QK^T) V

``W_a``, ``W_v``, ``W_o`` are 1x1 convolutions (per-token Linear layers with bias). ``DW_k`` is a
:class:`~forwardkit_cfsr.reparam.RepDepthwise`: in training the large kernel has a parallel small kernel
(``small_kernel = 3``, merged into it for inference) and optionally the edge branches (the official
training code's "AllEdge" form). Cost ``O(N C (k^2 + 3 C))``: linear in the number of tokens N.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit.nn import Pointwise, make_activation
from forwardkit_cfsr.config import ConvModulationConfig
from forwardkit_cfsr.reparam import RepDepthwise, to_first, to_last

__all__ = ["ConvModulation", "conv_modulation"]


def conv_modulation(x: Tensor, w_a: nn.Module, dw: nn.Module, w_v: nn.Module, w_o: nn.Module,
                    act: nn.Module | None = None) -> Tensor:
    """``W_o(DW_k(act(W_a x)) * W_v x)`` (eq. 2-3) on ``(B, *spatial, C)``; ``dw`` acts on ``(B, C, *spatial)``
    (``act`` defaults to GELU)."""
    a = w_a(x)
    a = act(a) if act is not None else F.gelu(a)
    a = to_last(dw(to_first(a)))
    return w_o(a * w_v(x))


class ConvModulation(TokenMixer):
    """ConvMod ``(B, *spatial, C)`` -> same: large-kernel depthwise modulation of a value projection."""

    Config = ConvModulationConfig
    config: ConvModulationConfig
    causal = False

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {"spatial_rank": len(spatial)}

    def __init__(self, config: ConvModulationConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c, dim = self.config, self.dim
        self.norm = nn.LayerNorm(dim, eps=1e-6) if c.inner_norm else None
        self.w_a = Pointwise(dim, dim)
        self.act = make_activation(c.act)
        self.dw = RepDepthwise(rank=c.spatial_rank, channels=dim, kernel=c.kernel_size, small=c.small_kernel,
                               edges=c.edge_kernels, variant=c.kernel_variant, scale_init_std=c.scale_init_std,
                               merged=c.merged)
        self.w_v = Pointwise(dim, dim)
        self.w_o = Pointwise(dim, dim)

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) == self.config.spatial_rank

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() - 2 != self.config.spatial_rank:
            raise ValueError(f"conv_modulation built for spatial_rank={self.config.spatial_rank}, got {tuple(x.shape)}")
        z = self.norm(x) if self.norm is not None else x
        return conv_modulation(z, self.w_a, self.dw, self.w_v, self.w_o, self.act)
