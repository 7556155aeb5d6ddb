"""Low-frequency cropping (sec. 3.2 and Fig. 4 of arXiv:2211.09703; the official ``utils.freq_crop``).

For an image ``X`` of ``H x W`` and an even bandwidth ``B`` (``b = B / 2``), with the unshifted spectrum
``F = fft2(X)`` (DC at ``[0, 0]``):

    F_c = the four corner blocks F[:b, :b], F[-b:, :b], F[:b, -b:], F[-b:, -b:] placed in the corners of a B x B
          array, i.e. frequencies -b .. b - 1 on each axis
    X_c = real(ifft2(F_c x (B/H)(B/W)))          # the factor keeps the mean intensity

``X_c`` is a B x B image holding exactly the band ``-b <= k < b`` of ``X`` (the +b Nyquist bin is dropped and -b
kept, so ``F_c`` is not Hermitian and ``ifft2`` has an imaginary part: the real part is taken, so a cosine at
exactly b survives at half amplitude and frequencies above b vanish).

Three backends compute it:

* :func:`low_freq_crop_reference` — the paper's crop, line by line as the official code (torch.fft);
* :func:`low_freq_crop_matmul` — the same linear map as real matrix products ``A_h X A_w^T`` (for the small images
  of a CPU run this skips the complex FFTs; equal to the reference to float rounding, tested);
* :func:`lanczos_resize` — EfficientTrain++'s replacement, Lanczos-3 down-sampling with PIL's kernel support.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.data import forward_batch
from forwardkit.interfaces import Adapter
from forwardkit_efficienttrain.config import Backend, LowFreqCropConfig


def _pair(bandwidth: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(bandwidth, int):
        return bandwidth, bandwidth
    bh, bw = bandwidth
    return int(bh), int(bw)


def _check(x: Tensor, bandwidth: tuple[int, int], size: tuple[int, int], *, even: bool) -> None:
    if x.dim() < 2:
        raise ValueError(f"low_freq_crop needs images with two spatial axes, got shape {tuple(x.shape)}")
    for b, s, axis in zip(bandwidth, size, ("H", "W"), strict=True):
        if b < (2 if even else 1) or b > s:
            raise ValueError(f"bandwidth {b} must satisfy {2 if even else 1} <= B <= {axis} = {s} "
                             f"(input shape {tuple(x.shape)})")
        if even and b % 2:
            raise ValueError(f"bandwidth {b} must be even for the Fourier crop (it keeps frequencies -B/2 .. B/2 - 1); "
                             "use backend 'lanczos_resize' for odd sizes")


def _to_nchw(x: Tensor, channels_last: bool) -> Tensor:
    """``(N, H, W, C) -> (N, C, H, W)`` for channels-last input (spatial axes last, as torch.fft and matmul want)."""
    return x.movedim(-1, -3) if channels_last else x


def _from_nchw(x: Tensor, channels_last: bool) -> Tensor:
    """Back to ``(N, H, W, C)`` with the standard row-major strides. ``contiguous()`` is not enough: with C = 1 it
    keeps the stride of the size-1 axis, and a conv then picks a slower kernel for the batch (measured: about 30%
    slower steps of the reference CNN on the matmul path's output)."""
    if not channels_last:
        return x
    moved = x.movedim(-3, -1)
    return torch.empty(moved.shape, dtype=moved.dtype, device=moved.device).copy_(moved)


def _compute_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def low_freq_crop_reference(x: Tensor, bandwidth: int | tuple[int, int], *, rescale_energy: bool = True,
                            channels_last: bool = True) -> Tensor:
    """The paper's crop, as the official ``freq_crop``: ``(N, H, W, C) -> (N, B, B, C)`` (``channels_last``) or
    ``(..., H, W) -> (..., B, B)``. ``bandwidth`` is B (or ``(B_h, B_w)``), even, at most the image side."""
    bh, bw = _pair(bandwidth)
    xs = _to_nchw(x, channels_last)
    h, w = xs.shape[-2], xs.shape[-1]
    _check(xs, (bh, bw), (h, w), even=True)
    f = torch.fft.fft2(xs.to(_compute_dtype(x)))  # unshifted: the low frequencies sit in the four corners
    a, c = bh // 2, bw // 2
    crop = f.new_empty((*f.shape[:-2], bh, bw))
    crop[..., :a, :c] = f[..., :a, :c]
    crop[..., -a:, :c] = f[..., -a:, :c]
    crop[..., :a, -c:] = f[..., :a, -c:]
    crop[..., -a:, -c:] = f[..., -a:, -c:]
    if rescale_energy:
        crop = crop * (bh * bw / (h * w))
    out = torch.real(torch.fft.ifft2(crop)).to(x.dtype)
    return _from_nchw(out, channels_last)


@functools.lru_cache(maxsize=64)
def crop_matrices(size: int, bandwidth: int) -> tuple[Tensor, Tensor]:
    """``(Re A, Im A)``, float64 ``(B, H)``: the crop along one axis as a matrix, ``A = IDFT_B S DFT_H`` with ``S``
    keeping frequencies ``k_i`` = 0 .. b-1, -b .. -1: ``A[m, p] = (1/B) sum_i exp(2 pi i k_i (m/B - p/H))``."""
    b = bandwidth // 2
    k = torch.cat([torch.arange(0, b), torch.arange(-b, 0)]).to(torch.float64)  # (B,)
    m = torch.arange(bandwidth, dtype=torch.float64) / bandwidth
    p = torch.arange(size, dtype=torch.float64) / size
    phase = 2 * math.pi * k[None, :, None] * (m[:, None, None] - p[None, None, :])  # (B, B_freq, H)
    return torch.cos(phase).sum(1) / bandwidth, torch.sin(phase).sum(1) / bandwidth


def low_freq_crop_matmul(x: Tensor, bandwidth: int | tuple[int, int], *, rescale_energy: bool = True,
                         channels_last: bool = True) -> Tensor:
    """The fast path of :func:`low_freq_crop_reference`: for real ``X``, ``real(A_h X A_w^T) = Re A_h X Re A_w^T -
    Im A_h X Im A_w^T``, done as two matrix products (``[Re A_h; Im A_h] X`` then one product with the stacked
    ``[Re A_w^T; -Im A_w^T]``). Same shapes and result (to float rounding)."""
    bh, bw = _pair(bandwidth)
    xs = _to_nchw(x, channels_last)
    h, w = xs.shape[-2], xs.shape[-1]
    _check(xs, (bh, bw), (h, w), even=True)
    dtype = _compute_dtype(x)
    rh, ih = (t.to(device=x.device, dtype=dtype) for t in crop_matrices(h, bh))
    rw, iw = (t.to(device=x.device, dtype=dtype) for t in crop_matrices(w, bw))
    scale = bh * bw / (h * w) if rescale_energy else 1.0
    left = torch.cat([rh, ih], 0) * scale  # (2 B_h, H)
    right = torch.cat([rw.T, -iw.T], 0)  # (2 W, B_w)
    y = left @ xs.to(dtype)  # (..., 2 B_h, W)
    y = torch.cat([y[..., :bh, :], y[..., bh:, :]], -1)  # (..., B_h, 2 W): [Re A_h X, Im A_h X]
    out = (y @ right).to(x.dtype)  # (..., B_h, B_w)
    return _from_nchw(out, channels_last)


def _lanczos3(t: Tensor) -> Tensor:
    """``sinc(t) sinc(t / 3)`` on ``|t| < 3``, 0 outside (PIL's lanczos filter)."""
    out = torch.sinc(t) * torch.sinc(t / 3.0)
    return torch.where(t.abs() < 3.0, out, torch.zeros_like(out))


@functools.lru_cache(maxsize=64)
def lanczos_matrix(size: int, out_size: int) -> Tensor:
    """float64 ``(out_size, size)`` rows of normalised Lanczos-3 weights, with PIL's support (widened by the
    down-sampling factor, i.e. anti-aliased) and pixel-centre alignment."""
    scale = size / out_size
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    rows = torch.zeros(out_size, size, dtype=torch.float64)
    for i in range(out_size):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size)
        j = torch.arange(lo, hi, dtype=torch.float64)
        wts = _lanczos3((j - center + 0.5) / filterscale)
        rows[i, lo:hi] = wts / wts.sum()
    return rows


def lanczos_resize(x: Tensor, size: int | tuple[int, int], *, channels_last: bool = True) -> Tensor:
    """EfficientTrain++'s low-resolution view: Lanczos-3 resampling of ``(N, H, W, C)`` (or ``(..., H, W)``) to
    ``B x B`` (any B <= the side), ``L_h X L_w^T`` with :func:`lanczos_matrix` rows (they sum to 1, so the mean is
    kept without a factor)."""
    bh, bw = _pair(size)
    xs = _to_nchw(x, channels_last)
    h, w = xs.shape[-2], xs.shape[-1]
    _check(xs, (bh, bw), (h, w), even=False)
    dtype = _compute_dtype(x)
    lh = lanczos_matrix(h, bh).to(device=x.device, dtype=dtype)
    lw = lanczos_matrix(w, bw).to(device=x.device, dtype=dtype)
    out = (lh @ xs.to(dtype) @ lw.T).to(x.dtype)
    return _from_nchw(out, channels_last)


def low_freq_crop(x: Tensor, bandwidth: int | tuple[int, int], *, rescale_energy: bool = True,
                  backend: Backend = "fft", channels_last: bool = True) -> Tensor:
    """The low-frequency view of ``x`` at bandwidth B: ``(N, H, W, C) -> (N, B, B, C)`` (``channels_last``, the
    forwardkit layout) or ``(..., H, W) -> (..., B, B)``. ``backend``: ``fft`` (the paper's crop), ``dft_matmul``
    (the same, as matrix products) or ``lanczos_resize`` (EfficientTrain++; ``rescale_energy`` does not apply)."""
    if backend == "fft":
        return low_freq_crop_reference(x, bandwidth, rescale_energy=rescale_energy, channels_last=channels_last)
    if backend == "dft_matmul":
        return low_freq_crop_matmul(x, bandwidth, rescale_energy=rescale_energy, channels_last=channels_last)
    if backend == "lanczos_resize":
        return lanczos_resize(x, bandwidth, channels_last=channels_last)
    raise ValueError(f"backend must be one of 'fft', 'dft_matmul', 'lanczos_resize', got {backend!r}")


def fourier_upsample(x: Tensor, size: int, *, channels_last: bool = True) -> Tensor:
    """Zero-pad the spectrum of a ``B x B`` image back to ``size x size`` (the inverse of the crop for images
    band-limited to ``|k| < B/2``), scaled by ``(size/B)^2`` so the intensity is kept. For tests and figures."""
    xs = _to_nchw(x, channels_last)
    bh, bw = xs.shape[-2], xs.shape[-1]
    f = torch.fft.fft2(xs.to(_compute_dtype(x)))
    a, c = bh // 2, bw // 2
    big = f.new_zeros((*f.shape[:-2], size, size))
    big[..., :a, :c] = f[..., :a, :c]
    big[..., -a:, :c] = f[..., -a:, :c]
    big[..., :a, -c:] = f[..., :a, -c:]
    big[..., -a:, -c:] = f[..., -a:, -c:]
    out = torch.real(torch.fft.ifft2(big * (size * size / (bh * bw)))).to(x.dtype)
    return _from_nchw(out, channels_last)


class LowFreqCrop(nn.Module):
    """The crop as a module: ``(N, H, W, C) -> (N, B, B, C)`` (``channels_last``), no parameters."""

    def __init__(self, config: LowFreqCropConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        from forwardkit.config import resolve_config

        self.config: LowFreqCropConfig = resolve_config(LowFreqCropConfig, config, overrides)

    def forward(self, x: Tensor) -> Tensor:
        cfg = self.config
        return low_freq_crop(x, cfg.bandwidth, rescale_energy=cfg.rescale_energy, backend=cfg.backend,
                             channels_last=cfg.channels_last)

    def extra_repr(self) -> str:
        return f"bandwidth={self.config.bandwidth}, backend={self.config.backend!r}"


class CroppedInput(nn.Module):
    """``model`` fed the low-frequency crop of its input: ``forward(x) = model(crop(x))``; ``forward_batch``
    crops ``batch[input_key]`` and hands the rest of the batch over unchanged. The model must accept the
    smaller image (CNNs with global pooling do; ViTs need their position embeddings resized)."""

    def __init__(self, model: nn.Module, crop: nn.Module, *, input_key: str = "x") -> None:
        super().__init__()
        self.model = model
        self.crop = crop
        self.input_key = input_key

    def forward(self, x: Tensor) -> Any:
        return self.model(self.crop(x))

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Any:
        return forward_batch(self.model, {**batch, self.input_key: self.crop(batch[self.input_key])})

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        make = getattr(self.model, "example_batch", None)
        if make is None:
            raise NotImplementedError(f"{type(self.model).__name__} does not define example_batch()")
        out: dict[str, Tensor] = make(batch_size, generator=generator)
        return out


class LowFreqCropAdapter(Adapter):
    """The ``low_freq_crop`` adapter: a copy of the model behind :class:`LowFreqCrop` (:class:`CroppedInput`), so
    it trains or evaluates on the B x B low-frequency view of its images (the official evaluation while B < H)."""

    Config = LowFreqCropConfig
    config: LowFreqCropConfig
    inplace = False
    #: the kit's toy images are 8 x 8
    conformance_configs = ({"bandwidth": 4}, {"bandwidth": 6, "backend": "dft_matmul"},
                           {"bandwidth": 5, "backend": "lanczos_resize"}, {"bandwidth": 8, "rescale_energy": False})
    conformance_models = ("toy", {"name": "efficienttrain_cnn", "widths": [4, 8], "strides": [1, 2],
                                  "image_size": 8, "in_channels": 3, "num_classes": 4})

    def apply(self, model: nn.Module) -> nn.Module:
        return CroppedInput(copy.deepcopy(model), LowFreqCrop(self.config), input_key=self.config.input_key)
