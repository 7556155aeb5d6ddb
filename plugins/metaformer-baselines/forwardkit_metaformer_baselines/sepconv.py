"""ConvFormer's token mixer (paper sec. 3.2): MobileNetV2's inverted separable convolution,

    ``SepConv(X) = Conv_pw2(Conv_dw(act1(Conv_pw1(X))))``

with the pointwise convolutions as :func:`forwardkit.nn.pointwise` projections of the channels-last tokens
(the same function as a Linear layer or a 1x1 conv; the kernel, MKL's sgemm or oneDNN's 1x1 conv, is the
faster one for the token count) and a depthwise ``k x k`` conv (k=7). The depthwise conv runs on the
permuted view ``(B, C', *spatial)``, whose strides are channels-last, so no copy is made before or after
it (a contiguous NCHW copy instead costs 1.2-4.6x the time, except for a single 7x7 image, see
:data:`DEPTHWISE_COPY_MAX_POSITIONS`); StarReLU is the fused
:func:`~forwardkit_metaformer_baselines.activation.star_relu`. :func:`sepconv_reference` writes the mixer
out (``F.linear`` projections, the depthwise conv on a contiguous NCHW copy), for checks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit.nn import Pointwise, pointwise
from forwardkit_metaformer_baselines.activation import make_act
from forwardkit_metaformer_baselines.config import SepConvConfig

#: Depthwise layout rule, measured by the repository's ``benchmarks/cpu_kernels.py`` (``benchmarks/results/
#: cpu_kernels.json``, piece ``depthwise``: 7x7 on the 2C channels of the four MetaFormer stages at 224 px, batch
#: 1-64, 1 and 2 threads, forward+backward): on the channels-last view the conv is 1.2-4.6x faster than on a
#: contiguous NCHW copy for every shape from 196 positions (B x H x W) up, but 2.0x (1 thread) and 1.3x (2 threads)
#: slower for one 7x7 image (49 positions). Up to this many positions the conv runs on a contiguous copy.
DEPTHWISE_COPY_MAX_POSITIONS = 64


def causal_kernel_mask(kernel: tuple[int, ...] | torch.Size) -> Tensor:
    """``(*kernel)`` 0/1 mask keeping the taps at or before the centre in raster order (odd ``kernel``): with
    it, a "same" convolution's output at a position sees only inputs at flattened positions ``<=`` it
    (for images, PixelCNN's mask "B")."""
    numel = math.prod(kernel)
    return (torch.arange(numel) <= numel // 2).to(torch.float32).reshape(tuple(kernel))


def depthwise_conv(h: Tensor, weight: Tensor, bias: Tensor | None = None, *, causal: bool = False) -> Tensor:
    """Depthwise convolution of channels-last tokens with zero "same" padding.

    ``h`` is ``(B, *spatial, C)``; ``weight`` is ``(C, 1, *kernel)`` with ``len(kernel) == rank`` for
    ranks 2 and 3, or ``(C, 1, 1, k)`` for rank 1 (run as an image of height 1). ``causal`` pads ``k - 1``
    zeros on the left for rank 1, and multiplies the kernel by :func:`causal_kernel_mask` for ranks 2-3.
    The conv runs on the permuted view ``(B, C, *spatial)``, whose strides are channels-last (no copy), except
    for at most :data:`DEPTHWISE_COPY_MAX_POSITIONS` positions, where a contiguous copy is faster. Returns
    ``(B, *spatial, C)``.
    """
    rank = h.dim() - 2
    if rank == 1:
        h = h.unsqueeze(1)  # (B, 1, N, C)
    kernel = weight.shape[2:]
    if len(kernel) != h.dim() - 2:
        raise ValueError(f"a depthwise kernel {tuple(kernel)} does not fit tokens of shape {tuple(h.shape)}")
    padding = [k // 2 for k in kernel]
    if causal and rank == 1:  # all k taps on the past: k - 1 zeros on the left, none on the right
        h = F.pad(h, (0, 0, kernel[-1] - 1, 0))
        padding = [0, 0]
    elif causal:
        weight = weight * causal_kernel_mask(kernel).to(weight)
    conv = F.conv2d if len(kernel) == 2 else F.conv3d
    view = h.movedim(-1, 1)  # (B, C, *spatial), channels-last strides
    small = h.numel() // h.shape[-1] <= DEPTHWISE_COPY_MAX_POSITIONS
    out = conv(view.contiguous() if small else view, weight, bias, padding=padding, groups=weight.shape[0])
    out = out.movedim(1, -1).contiguous() if small else out.movedim(1, -1)
    return out.squeeze(1) if rank == 1 else out


def sepconv_mix(
    x: Tensor,
    pw1_weight: Tensor,
    dw_weight: Tensor,
    pw2_weight: Tensor,
    act: nn.Module,
    *,
    pw1_bias: Tensor | None = None,
    dw_bias: Tensor | None = None,
    pw2_bias: Tensor | None = None,
    causal: bool = False,
) -> Tensor:
    """Inverted separable convolution (paper sec. 3.2) on ``x`` of shape ``(B, *spatial, C)``:
    ``pw1_weight`` ``(C', C)``, ``dw_weight`` as in :func:`depthwise_conv` with C' channels,
    ``pw2_weight`` ``(C, C')``. Returns ``(B, *spatial, C)``."""
    h = act(pointwise(x, pw1_weight, pw1_bias))  # (B, *spatial, C')
    h = depthwise_conv(h, dw_weight, dw_bias, causal=causal)
    return pointwise(h, pw2_weight, pw2_bias)


def sepconv_reference(
    x: Tensor,
    pw1_weight: Tensor,
    dw_weight: Tensor,
    pw2_weight: Tensor,
    act: nn.Module,
    *,
    pw1_bias: Tensor | None = None,
    dw_bias: Tensor | None = None,
    pw2_bias: Tensor | None = None,
    causal: bool = False,
) -> Tensor:
    """:func:`sepconv_mix` written out (paper sec. 3.2): ``F.linear`` projections, the activation module as
    given (use the composed :class:`~forwardkit_metaformer_baselines.activation.StarReLU` formula to check
    the fused one), the depthwise conv on a contiguous NCHW copy. Same arguments and shapes."""
    h = act(F.linear(x, pw1_weight, pw1_bias))
    rank = h.dim() - 2
    if rank == 1:
        h = h.unsqueeze(1)
    kernel = dw_weight.shape[2:]
    if causal and rank == 1:
        h = F.pad(h, (0, 0, kernel[-1] - 1, 0))
        padding = [0, 0]
    else:
        padding = [k // 2 for k in kernel]
    weight = dw_weight * causal_kernel_mask(kernel).to(dw_weight) if causal and rank > 1 else dw_weight
    conv = F.conv2d if len(kernel) == 2 else F.conv3d
    h = conv(h.movedim(-1, 1).contiguous(), weight, dw_bias, padding=padding, groups=weight.shape[0]).movedim(1, -1)
    return F.linear(h.squeeze(1) if rank == 1 else h, pw2_weight, pw2_bias)


class SepConv(TokenMixer):
    """Inverted separable convolution on ``(B, *spatial, C)`` of rank ``spatial_rank`` (see :func:`sepconv_mix`):
    ``pwconv1`` Linear(C, C'), ``act1``, ``dwconv`` depthwise k x k (no bias by default), ``pwconv2``
    Linear(C', C) (both :class:`forwardkit.nn.Pointwise`, i.e. ``nn.Linear`` layers), with
    ``C' = int(expansion_ratio * C)``. Causal (in flattened order) only with ``causal``, which masks the
    depthwise kernel (:func:`causal_kernel_mask`)."""

    Config = SepConvConfig
    config: SepConvConfig
    conformance_configs = (
        {},
        {"act1": "gelu", "kernel_size": 3, "bias": True},
        {"spatial_rank": 1},
        {"spatial_rank": 1, "causal": True},
        {"causal": True, "kernel_size": 3},
        {"spatial_rank": 3, "kernel_size": 3},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        hidden = max(int(cfg.expansion_ratio * cfg.dim), 1)
        self.causal = cfg.causal
        self.pwconv1 = Pointwise(cfg.dim, hidden, bias=cfg.bias)
        self.act1 = make_act(cfg.act1)
        k = cfg.kernel_size
        conv: nn.Module
        if cfg.spatial_rank == 1:
            conv = nn.Conv2d(hidden, hidden, (1, k), groups=hidden, bias=cfg.bias)
        elif cfg.spatial_rank == 2:
            conv = nn.Conv2d(hidden, hidden, k, groups=hidden, bias=cfg.bias)
        else:
            conv = nn.Conv3d(hidden, hidden, k, groups=hidden, bias=cfg.bias)
        self.dwconv = conv
        self.pwconv2 = Pointwise(hidden, cfg.dim, bias=cfg.bias)

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        """``spatial_rank`` follows the token grid a holder feeds (a rank-1 metaformer gets a 1-D kernel)."""
        return {"spatial_rank": len(spatial)}

    def supports(self, spatial: tuple[int, ...]) -> bool:
        """Only tokens of rank ``spatial_rank`` (the depthwise kernel has that many axes)."""
        return len(spatial) == self.config.spatial_rank

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() - 2 != self.config.spatial_rank:
            raise ValueError(
                f"sepconv was built for spatial_rank={self.config.spatial_rank}, got tokens of shape {tuple(x.shape)}"
            )
        return sepconv_mix(
            x,
            self.pwconv1.weight,
            self.dwconv.weight,
            self.pwconv2.weight,
            self.act1,
            pw1_bias=self.pwconv1.bias,
            dw_bias=self.dwconv.bias,
            pw2_bias=self.pwconv2.bias,
            causal=self.causal,
        )
