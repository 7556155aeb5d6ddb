"""The DCT-domain token mixers: ``dsm`` (dynamic spectrum mixer) and ``dct_static`` (its static variant).

The mechanism is the spec card's RECONSTRUCTION of the paper (arXiv 2309.06721; no official code, method
section not available; steps numbered as in papers/dynamic-spectrum-mixer.md). On channels-last tokens
``z`` ``(B, *spatial, C)`` (already normed by the block):

1. optional pointwise input projection ``z <- Linear(C, C)(z)`` (``in_proj``);
2. orthonormal DCT-II over the spatial axes, ``S = D_H z D_W^T`` per channel (:mod:`.dct`);
3. the frequency grid is split into K bands, ``band(u, v) = min(K-1, floor(K (u/H + v/W) / 2))`` (:mod:`.bands`);
4. a learnable static spectral weight ``W_s`` ``(*grid, C)``, initialised to ones;
5. input-dependent band gates ``a = 2 sigmoid(generator(z))`` ``(B, K, C)``, ``A[b, u, v, c] = a[b, band(u, v), c]``
   (:mod:`.generator`);
6. filter and invert: ``y = D_H^T (S * W_s * A) D_W``, then the optional output ``Linear(C, C)`` (``out_proj``).

With ``W_s = 1``, ``a = 1`` (the initialisation) and no projections the mixer is exactly the identity. The
variants of the card are config fields: ``weight_mode='filter_bank'`` replaces ``W_s * A`` by K learnable
full-resolution filters mixed per sample by a softmax over the generated logits (DFFormer-like),
``weight_mode='static'`` (and ``dct_static``) keeps ``W_s`` alone, ``axes='separable'`` filters each spatial
axis in its own 1-D DCT branch (weights ``(n_i, C)``, the same band gates) and adds a pointwise channel
branch (Vision-Permutator-like), ``transform='fft'`` computes the DCT by FFTs.

Spectral weights are built for ``grid`` (which the holder fills: the builtin metaformer, ``forwardkit
bench`` and the conformance kit pass each mixer its exact grid); tokens of another size of the same rank
get them resized (linear/bilinear/trilinear over the normalised frequencies); with ``grid=None`` they are
built at the first call from its grid, then kept. The transform runs in float32 (float64 stays float64),
with autocast switched off around it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit.nn import Pointwise
from forwardkit_dynamic_spectrum_mixer.bands import band_map
from forwardkit_dynamic_spectrum_mixer.config import DctStaticConfig, DSMConfig, SpectrumMixerConfig
from forwardkit_dynamic_spectrum_mixer.dct import dct_matrix, dctn, idctn
from forwardkit_dynamic_spectrum_mixer.generator import SpectrumWeightGenerator, band_gates

#: the filter bank's K filters start at 1 + FILTER_BANK_INIT_STD * randn (distinct, near the identity)
FILTER_BANK_INIT_STD = 0.02
_INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}


def resize_spectral(weight: Tensor, grid: Sequence[int], *, leading: int = 0) -> Tensor:
    """``weight`` ``(*lead, *grid0, C)`` resized over its grid axes to ``grid`` (linear/bilinear/trilinear,
    ``align_corners=False``: the same normalised frequencies); returned unchanged when the grid matches."""
    grid = tuple(int(n) for n in grid)
    rank = len(grid)
    if tuple(weight.shape[leading:leading + rank]) == grid:
        return weight
    lead, channels = weight.shape[:leading], weight.shape[-1]
    cf = weight.movedim(-1, leading).reshape(1, -1, *weight.shape[leading:leading + rank])  # (1, lead*C, *grid0)
    out = F.interpolate(cf, size=grid, mode=_INTERPOLATION[rank], align_corners=False)
    return out.reshape(*lead, channels, *grid).movedim(leading, -1)


def dynamic_spectrum_mix(z: Tensor, static_weight: Tensor, gate_logits: Tensor | None = None, *,
                         num_bands: int = 4, transform: str = "matrix") -> Tensor:
    """DSM token mixing without projections, joint over the spatial axes (card steps 2-6):
    ``y = IDCT(DCT(z) * W_s * A)`` with ``A[b, k, c] = a[b, band(k), c]``, ``a = 2 sigmoid(gate_logits)``.

    Args:
        z: tokens ``(B, *spatial, C)``.
        static_weight: ``W_s`` ``(*spatial, C)`` (resized when its grid differs).
        gate_logits: ``(B, K, C)`` generated logits, or None for the static mixer (``A = 1``).
    Returns:
        ``(B, *spatial, C)``.
    """
    spatial = tuple(z.shape[1:-1])
    dims = tuple(range(1, z.dim() - 1))
    filt = resize_spectral(static_weight, spatial).unsqueeze(0)
    if gate_logits is not None:
        filt = filt * band_gates(gate_logits)[:, band_map(spatial, num_bands, device=z.device)]
    spectrum = dctn(z, dims, transform=transform)  # type: ignore[arg-type]
    return idctn(spectrum * filt, dims, transform=transform)  # type: ignore[arg-type]


@contextlib.contextmanager
def _full_precision(device_type: str) -> Iterator[None]:
    """Autocast off inside (the transform runs in float32 under mixed precision, card pitfalls)."""
    if torch.is_autocast_enabled(device_type):
        with torch.autocast(device_type, enabled=False):
            yield
    else:
        yield


def _materialize_from_state(module: nn.Module, state_dict: Mapping[str, Any], prefix: str, *args: Any) -> None:
    """load_state_dict pre-hook of a mixer built with ``grid=None``: build its weights from the saved shapes."""
    if isinstance(module, SpectrumMixer) and module.grid is None:
        module.materialize_from_shapes({k[len(prefix):]: v.shape for k, v in state_dict.items()
                                        if k.startswith(prefix)})


class GridSizedMixer(TokenMixer):
    """A token mixer whose weights are sized for its token grid (``self.grid``; None until built)."""

    grid: tuple[int, ...] | None

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        """The weights are sized for the grid: ``{"grid": spatial}`` when every side is known."""
        return {} if None in spatial else {"grid": tuple(int(n) for n in spatial if n is not None)}

    def supports(self, spatial: tuple[int, ...]) -> bool:
        """Any grid of the declared ranks (weights are resized); the rank of ``grid`` once it is set."""
        return super().supports(spatial) and (self.grid is None or len(spatial) == len(self.grid))


class SpectrumMixer(GridSizedMixer):
    """DCT-domain token mixer on ``(B, *spatial, C)``, spatial rank 1, 2 or 3 (see the module docstring).
    Subclasses fix the Config (``dsm``: :class:`DynamicSpectrumMixer`, ``dct_static``: :class:`DctStaticMixer`)."""

    Config: ClassVar[type[SpectrumMixerConfig]] = SpectrumMixerConfig
    config: SpectrumMixerConfig
    ranks: ClassVar[frozenset[int]] = frozenset({1, 2, 3})
    causal = False

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.weight_mode: str = str(getattr(cfg, "weight_mode", "static"))
        self.num_bands: int = int(getattr(cfg, "num_bands", 1))
        c = self.dim
        self.in_proj: nn.Module | None = Pointwise(c, c) if cfg.in_proj else None
        self.generator: SpectrumWeightGenerator | None = None
        if self.weight_mode != "static":
            self.generator = SpectrumWeightGenerator(dim=c, num_bands=self.num_bands,
                                                     reduction=int(getattr(cfg, "reduction", 4)))
        self.channel: nn.Module | None = Pointwise(c, c) if cfg.axes == "separable" else None
        self.out_proj: nn.Module | None = Pointwise(c, c) if cfg.out_proj else None
        #: W_s (or the filter bank) of each branch: one for axes='joint', one per spatial axis for 'separable'
        self.spectral_weights = nn.ParameterList()
        #: the grid the spectral weights are built for (None until the first call when config.grid is None)
        self.grid: tuple[int, ...] | None = None
        if cfg.grid is not None:
            self._build(cfg.grid)
        else:
            self.register_load_state_dict_pre_hook(_materialize_from_state)

    # ---- declarations ------------------------------------------------------------------------------

    # ---- weights -----------------------------------------------------------------------------------
    def branches(self, rank: int) -> list[tuple[int, ...]]:
        """The tensor dims each branch transforms: ``[(1, .., rank)]`` (joint) or ``[(1,), .., (rank,)]``."""
        if self.config.axes == "joint":
            return [tuple(range(1, rank + 1))]
        return [(d,) for d in range(1, rank + 1)]

    def _build(self, grid: Sequence[int], device: torch.device | None = None) -> None:
        """Create W_s (or the filter bank), the band maps and the DCT matrices for ``grid``."""
        self.grid = tuple(int(n) for n in grid)
        for j, dims in enumerate(self.branches(len(self.grid))):
            sides = tuple(self.grid[d - 1] for d in dims)
            if self.weight_mode == "filter_bank":
                init = 1.0 + FILTER_BANK_INIT_STD * torch.randn(self.num_bands, *sides, self.dim, device=device)
            else:
                init = torch.ones(*sides, self.dim, device=device)
            self.spectral_weights.append(nn.Parameter(init))
            self.register_buffer(f"bands_{j}", band_map(sides, self.num_bands, device=device), persistent=False)
        for n in sorted(set(self.grid)):
            self.register_buffer(f"dct_{n}", dct_matrix(n, device=device), persistent=False)

    def materialize_from_shapes(self, shapes: Mapping[str, Sequence[int]]) -> None:
        """Build the weights of a ``grid=None`` mixer from saved parameter shapes (``spectral_weights.<j>``)."""
        found = sorted((int(k.split(".")[1]), tuple(v)) for k, v in shapes.items()
                       if k.startswith("spectral_weights.") and k.count(".") == 1)
        if not found or self.grid is not None:
            return
        lead = 1 if self.weight_mode == "filter_bank" else 0
        grid = found[0][1][lead:-1] if self.config.axes == "joint" else tuple(s[lead] for _, s in found)
        self._build(grid)

    def _buffer(self, name: str) -> Tensor | None:
        value = getattr(self, name, None)
        return value if isinstance(value, Tensor) else None

    def _dct(self, n: int, like: Tensor) -> Tensor:
        held = self._buffer(f"dct_{n}")
        if held is not None:
            return held.to(like.dtype)
        return dct_matrix(n, dtype=like.dtype, device=like.device)

    def _bands(self, j: int, sides: tuple[int, ...], device: torch.device) -> Tensor:
        held = self._buffer(f"bands_{j}")
        if held is not None and tuple(held.shape) == sides:
            return held
        return band_map(sides, self.num_bands, device=device)

    def spectral_filter(self, j: int, sides: tuple[int, ...], logits: Tensor | None) -> Tensor:
        """The multiplier of branch ``j`` on its frequency grid ``sides``: ``W_s`` ``(1, *sides, C)`` (static),
        ``W_s * A`` ``(B, *sides, C)`` (band_gate, card steps 4-5) or ``sum_k softmax_k(logits) F_k``
        ``(B, *sides, C)`` (filter_bank)."""
        weight = self.spectral_weights[j]
        if self.weight_mode == "filter_bank":
            assert logits is not None
            bank = resize_spectral(weight, sides, leading=1)  # (K, *sides, C)
            mix = torch.softmax(logits, dim=1)  # (B, K, C)
            mix = mix.reshape(mix.shape[0], self.num_bands, *([1] * len(sides)), self.dim)
            return (mix * bank.unsqueeze(0)).sum(dim=1)
        ws = resize_spectral(weight, sides).unsqueeze(0)  # (1, *sides, C)
        if self.weight_mode == "static" or logits is None:
            return ws
        gates = band_gates(logits)  # (B, K, C)
        return ws * gates[:, self._bands(j, sides, weight.device)]  # A[b, k, c] = a[b, band(k), c]

    def gate_logits(self, z: Tensor) -> Tensor | None:
        """The generator's logits ``(B, K, C)`` for mixer inputs ``z`` (after ``in_proj``), or None (static)."""
        return None if self.generator is None else self.generator(z)

    def project_in(self, x: Tensor) -> Tensor:
        """Step 1: the (optional) input projection; what the transform and the generator see."""
        return self.in_proj(x) if self.in_proj is not None else x

    # ---- forward -----------------------------------------------------------------------------------
    def _check_input(self, x: Tensor) -> tuple[int, ...]:
        name = type(self).__name__
        if x.dim() not in (3, 4, 5):
            raise ValueError(f"{name} takes channels-last tokens (B, *spatial, C) with 1 to 3 spatial axes, got a "
                             f"tensor of shape {tuple(x.shape)}")
        if x.shape[-1] != self.dim:
            raise ValueError(f"{name} was built with dim={self.dim} channels, got tokens of shape {tuple(x.shape)} "
                             f"(last axis {x.shape[-1]})")
        spatial = tuple(int(n) for n in x.shape[1:-1])
        if self.grid is not None and len(spatial) != len(self.grid):
            raise ValueError(f"{name} was built for grid {self.grid} (spatial rank {len(self.grid)}) and cannot take "
                             f"tokens of spatial shape {spatial} (rank {len(spatial)})")
        return spatial

    def forward(self, x: Tensor) -> Tensor:
        """``(B, *spatial, C)`` -> ``(B, *spatial, C)`` (card steps 1-6)."""
        spatial = self._check_input(x)
        if self.grid is None:
            self._build(spatial, device=x.device)
        z = self.project_in(x)
        with _full_precision(x.device.type):
            work = z if z.dtype in (torch.float32, torch.float64) else z.float()
            # the generator runs in its own weights' dtype (cheap); its logits join the float32 spectrum
            logits = self.gate_logits(z)
            logits = None if logits is None else logits.to(work.dtype)
            y: Tensor | None = None
            for j, dims in enumerate(self.branches(len(spatial))):
                sides = tuple(spatial[d - 1] for d in dims)
                mats = [self._dct(n, work) for n in sides] if self.config.transform == "matrix" else None
                spectrum = dctn(work, dims, transform=self.config.transform, mats=mats)  # step 2
                filt = self.spectral_filter(j, sides, logits)  # steps 3-5
                shape = [filt.shape[0]] + [spatial[i] if i + 1 in dims else 1 for i in range(len(spatial))]
                out = idctn(spectrum * filt.reshape(*shape, self.dim), dims, transform=self.config.transform,
                            mats=mats)  # step 6
                y = out if y is None else y + out
            assert y is not None
            y = y.to(x.dtype)
        if self.channel is not None:
            y = y + self.channel(z)
        return self.out_proj(y) if self.out_proj is not None else y

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, grid={self.grid}, weight_mode={self.weight_mode!r}, num_bands={self.num_bands}, "
                f"transform={self.config.transform!r}, axes={self.config.axes!r}")


class DynamicSpectrumMixer(SpectrumMixer):
    """``dsm``: the dynamic spectrum mixer (card steps 1-6, reconstruction) on ``(B, *spatial, C)``."""

    Config = DSMConfig
    config: DSMConfig
    gradient_exempt: ClassVar[Mapping[str, str]] = {
        "generator.reduce.*": "the generator's output layer starts at zero (card step 5: gates a = 1, the mixer "
        "the identity), so its first layer gets an exactly zero gradient until that layer has been updated once",
    }


class DctStaticMixer(SpectrumMixer):
    """``dct_static``: ``y = IDCT(DCT(z) * W_s)`` (+ projections), the same mixer with no input dependence."""

    Config = DctStaticConfig
    config: DctStaticConfig
