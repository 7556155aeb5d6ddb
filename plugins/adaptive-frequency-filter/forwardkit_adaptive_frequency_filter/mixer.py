"""The AFF token mixer (paper Sec. 3, "AFF token mixer"; official ``AFNO2D_channelfirst``) and its two static
baselines, on channels-last tokens ``(B, *spatial, C)`` of spatial rank 1, 2 or 3.

Paper equations (arXiv 2307.14008, Sec. 3.2): X = F(u) (eq. 3, the Fourier transform of the latent features),
M = softshrink(MLP_complex(X)) (eq. 4, the mask generated from the spectrum by a group-wise complex MLP),
Y = F^-1(M * X) (eq. 5, elementwise filtering), which by the convolution theorem equals the circular convolution
of u with the dynamic kernel F^-1(M) as large as the grid (eq. 6). The official code adds the input: Y + u.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer

from .config import AFFConfig, AFFStaticMaskConfig, GlobalFilterConfig

_ACTS = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}


def _fft_dims(x: Tensor) -> tuple[int, ...]:
    return tuple(range(1, x.dim() - 1))


def spectrum(u: Tensor) -> Tensor:
    """rfftn of ``u`` ``(B, *S, C)`` over the spatial axes, norm='ortho' (eq. 3) -> complex ``(B, *S', C)`` with
    the last spatial axis halved to ``S[-1] // 2 + 1``."""
    return torch.fft.rfftn(u, dim=_fft_dims(u), norm="ortho")


def inverse(y: Tensor, spatial: tuple[int, ...]) -> Tensor:
    """irfftn of the half-spectrum ``y`` back to ``(B, *spatial, C)`` (eq. 5); ``s`` is given so odd sizes work."""
    return torch.fft.irfftn(y, s=spatial, dim=tuple(range(1, y.dim() - 1)), norm="ortho")


def complex_block_linear(xr: Tensor, xi: Tensor, wr: Tensor, wi: Tensor, br: Tensor,
                         bi: Tensor) -> tuple[Tensor, Tensor]:
    """Block-diagonal complex affine layer (eq. 4), vectorised: ``x`` ``(..., k, c)``, ``w`` ``(k, c, h)``,
    ``b`` ``(k, h)``; real = xr wr - xi wi + br, imag = xi wr + xr wi + bi, as ONE real matmul with the
    ``(k, 2c, 2h)`` block matrix [[wr, wi], [-wi, wr]]."""
    big = torch.cat([torch.cat([wr, wi], dim=-1), torch.cat([-wi, wr], dim=-1)], dim=-2)
    out = torch.einsum("...kc,kch->...kh", torch.cat([xr, xi], dim=-1), big)
    h = wr.shape[-1]
    return out[..., :h] + br, out[..., h:] + bi


def aff_mask(x_spec: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, *, act: str = "relu",
             sparsity_threshold: float = 0.01) -> Tensor:
    """The mask generator (eq. 4): complex spectrum ``(B, *F, C)`` -> complex mask of the same shape.

    ``w1`` ``(2, k, c, h)``, ``b1`` ``(2, k, h)``, ``w2`` ``(2, k, h, c)``, ``b2`` ``(2, k, c)`` (index 0 real,
    1 imaginary); the same weights at every frequency; activation on real and imaginary parts separately, then
    softshrink(lambda) on both parts."""
    k, c = w1.shape[1], w1.shape[2]
    shape = x_spec.shape
    xr = x_spec.real.reshape(*shape[:-1], k, c)
    xi = x_spec.imag.reshape(*shape[:-1], k, c)
    f = _ACTS[act]
    hr, hi = complex_block_linear(xr, xi, w1[0], w1[1], b1[0], b1[1])
    hr, hi = f(hr), f(hi)
    mr, mi = complex_block_linear(hr, hi, w2[0], w2[1], b2[0], b2[1])
    mr = F.softshrink(mr, sparsity_threshold).reshape(shape)
    mi = F.softshrink(mi, sparsity_threshold).reshape(shape)
    return torch.complex(mr, mi)


def aff_mix(u: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, *, act: str = "relu",
            sparsity_threshold: float = 0.01, inner_skip: bool = True, fp32_fft: bool = True) -> Tensor:
    """AFF token mixing of ``u`` ``(B, *S, C)`` -> ``(B, *S, C)``: F^-1(M(X) * X) (+ u), eqs. 3-5.

    The weights are as in :func:`aff_mask`. With ``fp32_fft`` the FFT, mask and product run in float32 with
    autocast disabled and the result is cast back to ``u.dtype``."""
    dtype = u.dtype
    spatial = tuple(u.shape[1:-1])
    dev = u.device.type
    with torch.autocast(device_type=dev, enabled=False):
        v = u.float() if fp32_fft else u
        x = spectrum(v)
        m = aff_mask(x, w1.to(v.dtype), b1.to(v.dtype), w2.to(v.dtype), b2.to(v.dtype), act=act,
                     sparsity_threshold=sparsity_threshold)
        y = inverse(m * x, spatial)
        if inner_skip:
            y = y + v
    return y.to(dtype)


def static_filter(u: Tensor, weight: Tensor, *, inner_skip: bool = False, fp32_fft: bool = True) -> Tensor:
    """F^-1(W * F(u)) (+ u) with a fixed complex filter ``weight`` ``(*F, C)`` (GFNet; also the AFF ablation)."""
    dtype = u.dtype
    spatial = tuple(u.shape[1:-1])
    with torch.autocast(device_type=u.device.type, enabled=False):
        v = u.float() if fp32_fft else u
        y = inverse(weight.to(torch.complex64 if v.dtype == torch.float32 else torch.complex128) * spectrum(v),
                    spatial)
        if inner_skip:
            y = y + v
    return y.to(dtype)


class AFF(TokenMixer):
    """Adaptive Frequency Filter token mixer on ``(B, *spatial, C)``, ranks 1-3 (eqs. 3-5; official
    ``AFNO2D_channelfirst`` transformed over the spatial axes of channels-last tokens)."""

    Config = AFFConfig
    config: AFFConfig
    causal = False

    def __init__(self, config: AFFConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        k = min(cfg.num_groups, self.dim)
        c = self.dim // k
        h = c * cfg.hidden_factor
        s = cfg.init_scale
        self.num_groups = k
        self.w1 = nn.Parameter(s * torch.randn(2, k, c, h))
        self.b1 = nn.Parameter(s * torch.randn(2, k, h))
        self.w2 = nn.Parameter(s * torch.randn(2, k, h, c))
        self.b2 = nn.Parameter(s * torch.randn(2, k, c))

    def mask(self, u: Tensor) -> Tensor:
        """The generated complex mask ``(B, *S', C)`` for ``u`` ``(B, *S, C)`` (float32)."""
        return aff_mask(spectrum(u.float()), self.w1, self.b1, self.w2, self.b2, act=self.config.act,
                        sparsity_threshold=self.config.sparsity_threshold)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() - 2 not in self.ranks or x.shape[-1] != self.dim:
            raise ValueError(f"aff expects (B, *spatial, {self.dim}) with 1-3 spatial axes, got {tuple(x.shape)}")
        cfg = self.config
        return aff_mix(x, self.w1, self.b1, self.w2, self.b2, act=cfg.act, sparsity_threshold=cfg.sparsity_threshold,
                       inner_skip=cfg.inner_skip, fp32_fft=cfg.fp32_fft)


class _GridFilter(TokenMixer):
    """Shared part of the two static-filter mixers: a learned tensor ``(*S', C, 2)`` on the half-spectrum."""

    causal = False

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {} if None in spatial else {"grid": [int(s) for s in spatial]}

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        grid = self.config.grid
        freq = [*grid[:-1], grid[-1] // 2 + 1]
        self.weight = nn.Parameter(self.config.init_scale * torch.randn(*freq, self.dim, 2))

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return list(spatial) == list(self.config.grid)

    def _check(self, x: Tensor) -> None:
        if list(x.shape[1:-1]) != list(self.config.grid) or x.shape[-1] != self.dim:
            raise ValueError(f"{type(self).__name__} was built for grid {self.config.grid} and dim {self.dim}, "
                             f"got tokens {tuple(x.shape)}")


class GlobalFilter(_GridFilter):
    """GFNet's static global filter on ``(B, *grid, C)``: Y = F^-1(W * F(u)), W learned, no skip."""

    Config = GlobalFilterConfig
    config: GlobalFilterConfig

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return static_filter(x, torch.view_as_complex(self.weight), inner_skip=False, fp32_fft=self.config.fp32_fft)


class AFFStaticMask(_GridFilter):
    """AFF ablation: mask = softshrink(P) with P a learned static complex tensor, not generated from X."""

    Config = AFFStaticMaskConfig
    config: AFFStaticMaskConfig

    def static_mask(self) -> Tensor:
        """The complex mask ``(*S', C)``: softshrink on real and imaginary parts of the parameter."""
        return torch.view_as_complex(F.softshrink(self.weight, self.config.sparsity_threshold).contiguous())

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        cfg = self.config
        return static_filter(x, self.static_mask(), inner_skip=cfg.inner_skip, fp32_fft=cfg.fp32_fft)
