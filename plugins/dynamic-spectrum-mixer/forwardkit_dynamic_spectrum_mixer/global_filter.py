"""``fft_global_filter``: a GFNet-style global filter (Rao et al. 2021), the card's "DCT vs FFT" baseline.

On channels-last tokens ``z`` ``(B, *spatial, C)``: ``y = irfftn(rfftn(z) * K, s=spatial)`` over the spatial
axes (orthonormal scaling), with a learnable complex filter ``K`` per frequency and channel, stored as real
and imaginary parts ``(*grid[:-1], grid[-1] // 2 + 1, C, 2)`` and initialised ``init_std * randn`` (GFNet).
The product in the Fourier domain is a *circular* convolution over the grid (unlike the DCT's mirror
extension). Written for images in GFNet (``rfft2``); the same code serves ranks 1 and 3. Like the DCT mixers,
the filter is built for ``grid`` (filled by the holder) and resized (over the stored half spectrum) for other
sizes of the same rank; with ``grid=None`` it is built at the first call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.nn import Pointwise
from forwardkit_dynamic_spectrum_mixer.config import GlobalFilterConfig
from forwardkit_dynamic_spectrum_mixer.mixer import GridSizedMixer, resize_spectral


def half_spectrum(grid: Sequence[int]) -> tuple[int, ...]:
    """The frequency grid of ``rfftn`` over ``grid``: the last side becomes ``n // 2 + 1``."""
    grid = tuple(int(n) for n in grid)
    return (*grid[:-1], grid[-1] // 2 + 1)


def global_filter(z: Tensor, weight: Tensor) -> Tensor:
    """GFNet's global filter: ``irfftn(rfftn(z) * (w_re + i w_im), s=spatial)`` over the spatial axes.

    Args:
        z: tokens ``(B, *spatial, C)``.
        weight: ``(*half_spectrum(spatial), C, 2)``, real and imaginary parts (resized when it differs).
    Returns:
        ``(B, *spatial, C)``, in ``z``'s dtype (computed in float32 at least).
    """
    spatial = tuple(int(n) for n in z.shape[1:-1])
    dims = tuple(range(1, z.dim() - 1))
    work = z if z.dtype in (torch.float32, torch.float64) else z.float()
    half = half_spectrum(spatial)
    w = weight
    if tuple(w.shape[:len(half)]) != half:
        w = resize_spectral(w.flatten(-2), half).unflatten(-1, (w.shape[-2], 2))
    spectrum = torch.fft.rfftn(work, dim=dims, norm="ortho")
    filtered = spectrum * torch.view_as_complex(w.to(work.dtype).contiguous())
    return torch.fft.irfftn(filtered, s=spatial, dim=dims, norm="ortho").to(z.dtype)


def _materialize_from_state(module: nn.Module, state_dict: Mapping[str, Any], prefix: str, *args: Any) -> None:
    if isinstance(module, GlobalFilter) and module.grid is None and prefix + "weight" in state_dict:
        module.build_for_half_spectrum(tuple(state_dict[prefix + "weight"].shape[:-2]))


class GlobalFilter(GridSizedMixer):
    """``fft_global_filter`` on ``(B, *spatial, C)``, spatial rank 1, 2 or 3 (see the module docstring)."""

    Config = GlobalFilterConfig
    config: GlobalFilterConfig
    ranks: ClassVar[frozenset[int]] = frozenset({1, 2, 3})
    causal = False

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg, c = self.config, self.dim
        self.in_proj: nn.Module | None = Pointwise(c, c) if cfg.in_proj else None
        self.out_proj: nn.Module | None = Pointwise(c, c) if cfg.out_proj else None
        self.grid: tuple[int, ...] | None = None
        self.weight: nn.Parameter | None = None
        if cfg.grid is not None:
            self._build(cfg.grid)
        else:
            self.register_load_state_dict_pre_hook(_materialize_from_state)

    def _build(self, grid: Sequence[int], device: torch.device | None = None) -> None:
        self.grid = tuple(int(n) for n in grid)
        shape = (*half_spectrum(self.grid), self.dim, 2)
        self.weight = nn.Parameter(self.config.init_std * torch.randn(shape, device=device))

    def build_for_half_spectrum(self, half: tuple[int, ...]) -> None:
        """Build a ``grid=None`` filter from a saved weight's frequency grid (the last side's parity is
        unknown from it; the even one is taken, and any grid of that rank is accepted afterwards)."""
        self._build((*half[:-1], 2 * (half[-1] - 1) or 1))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, *spatial, C)`` -> ``(B, *spatial, C)``."""
        if x.dim() not in (3, 4, 5) or x.shape[-1] != self.dim:
            raise ValueError(f"fft_global_filter takes channels-last tokens (B, *spatial, C={self.dim}) with 1 to 3 "
                             f"spatial axes, got a tensor of shape {tuple(x.shape)}")
        spatial = tuple(int(n) for n in x.shape[1:-1])
        if self.grid is not None and len(spatial) != len(self.grid):
            raise ValueError(f"fft_global_filter was built for grid {self.grid} and cannot take tokens of spatial "
                             f"shape {spatial}")
        if self.weight is None:
            self._build(spatial, device=x.device)
        assert self.weight is not None
        z = self.in_proj(x) if self.in_proj is not None else x
        y = global_filter(z, self.weight)
        return self.out_proj(y) if self.out_proj is not None else y

    def extra_repr(self) -> str:
        return f"dim={self.dim}, grid={self.grid}"
