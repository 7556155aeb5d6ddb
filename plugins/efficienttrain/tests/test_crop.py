"""The low-frequency crop (card "Tests this plugin must have"): identity at B = H, the mean kept, exactly the band
|k| < B/2 kept, shapes and errors, constants and cosines, the matmul fast path against the paper-literal reference,
Lanczos against PIL, and the adapter."""

from __future__ import annotations

import math

import pytest
import torch
from forwardkit_efficienttrain.config import LowFreqCropConfig
from forwardkit_efficienttrain.crop import (
    CroppedInput,
    LowFreqCrop,
    fourier_upsample,
    lanczos_resize,
    low_freq_crop,
    low_freq_crop_matmul,
    low_freq_crop_reference,
)

import forwardkit
from forwardkit.errors import ConfigError

FOURIER = (low_freq_crop_reference, low_freq_crop_matmul)


def _images(n: int = 3, h: int = 28, w: int = 28, c: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, h, w, c, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("crop", FOURIER)
def test_full_bandwidth_returns_the_input(crop):
    x = _images()
    assert (crop(x, 28) - x).abs().max() < 1e-5


@pytest.mark.parametrize("crop", FOURIER)
@pytest.mark.parametrize("b", [2, 12, 20, 24])
def test_the_mean_over_pixels_is_kept(crop, b):
    x = _images(seed=b) + 3.0
    out = crop(x, b)
    assert (out.mean(dim=(1, 2)) - x.mean(dim=(1, 2))).abs().max() < 1e-5


def _band_limited(b: int, size: int = 28, seed: int = 0) -> torch.Tensor:
    """A real (4, size, size) image whose spectrum is zero outside |k| < b/2 on both axes (random coefficients
    inside; Hermitian, since it is the FFT of a real image with the outer band removed)."""
    g = torch.Generator().manual_seed(seed)
    f = torch.fft.fft2(torch.randn(4, size, size, dtype=torch.float64, generator=g))
    k = torch.fft.fftfreq(size, d=1.0 / size).abs()
    keep = (k[:, None] < b / 2) & (k[None, :] < b / 2)
    return torch.real(torch.fft.ifft2(f * keep))


@pytest.mark.parametrize("crop", FOURIER)
@pytest.mark.parametrize("b", [8, 20, 24])
def test_a_band_limited_image_survives_crop_and_fourier_upsampling(crop, b):
    x = _band_limited(b)
    small = crop(x, b, channels_last=False)
    back = fourier_upsample(small, 28, channels_last=False)
    assert small.shape == (4, b, b)
    assert (back - x).abs().max() < 1e-4


def test_what_is_outside_the_band_is_lost():
    x = _images(c=1, seed=3)[..., 0].to(torch.float64)
    back = fourier_upsample(low_freq_crop_reference(x, 20, channels_last=False), 28, channels_last=False)
    assert (back - x).abs().max() > 0.1  # a random image has energy above the band


@pytest.mark.parametrize("backend", ["fft", "dft_matmul"])
def test_output_shape_real_and_finite(backend):
    x = _images(n=2, c=3)
    out = low_freq_crop(x, 20, backend=backend)
    assert out.shape == (2, 20, 20, 3) and out.dtype == x.dtype and not out.is_complex()
    assert torch.isfinite(out).all()
    first = low_freq_crop(x.permute(0, 3, 1, 2), 20, backend=backend, channels_last=False)
    assert first.shape == (2, 3, 20, 20)
    assert torch.allclose(first.permute(0, 2, 3, 1), out, atol=1e-6)


def test_odd_or_too_large_bandwidths_are_errors():
    with pytest.raises(ConfigError, match="bandwidth must be even"):
        forwardkit.create("adapter", "low_freq_crop", bandwidth=21)
    with pytest.raises(ValueError, match="B <= H = 28"):
        LowFreqCrop(LowFreqCropConfig(bandwidth=30))(_images())
    for crop in FOURIER:
        with pytest.raises(ValueError, match="must be even"):
            crop(_images(), 21)
        with pytest.raises(ValueError, match="B <= W = 16"):
            crop(_images(w=16), 20)
    LowFreqCropConfig(bandwidth=21, backend="lanczos_resize")  # any B for Lanczos


@pytest.mark.parametrize("crop", FOURIER)
def test_a_constant_image_stays_constant(crop):
    out = crop(torch.full((1, 28, 28, 1), 0.7), 12)
    assert (out - 0.7).abs().max() < 1e-6


def _cosine(freq: int, size: int = 28, axis: int = 1) -> torch.Tensor:
    p = torch.arange(size, dtype=torch.float64)
    wave = torch.cos(2 * math.pi * freq * p / size)
    img = wave[:, None].expand(size, size) if axis == 0 else wave[None, :].expand(size, size)
    return img.reshape(1, size, size, 1).contiguous()


@pytest.mark.parametrize("crop", FOURIER)
def test_a_cosine_above_half_the_bandwidth_vanishes_and_one_below_is_kept(crop):
    for freq, axis in ((11, 0), (13, 1), (14, 1)):  # B = 20: b = 10 < freq
        assert crop(_cosine(freq, axis=axis), 20).abs().max() < 1e-10
    low = crop(_cosine(3, axis=1), 20)[0, :, :, 0]  # the same wave sampled on the 20-point grid
    m = torch.arange(20, dtype=torch.float64)
    assert (low - torch.cos(2 * math.pi * 3 * m / 20)[None, :]).abs().max() < 1e-10


@pytest.mark.parametrize("crop", FOURIER)
def test_a_cosine_at_the_nyquist_bin_survives_at_half_amplitude(crop):
    out = crop(_cosine(10, axis=1), 20)[0, 0, :, 0]  # the -b bin is kept, +b dropped
    m = torch.arange(20, dtype=torch.float64)
    assert (out - 0.5 * torch.cos(math.pi * m)).abs().max() < 1e-10


def test_the_cropped_spectrum_is_not_hermitian_so_the_real_part_is_taken():
    """The card's pitfall: the inverse FFT of the crop has a sizeable imaginary part for noise (never assumed small)."""
    x = _images(c=1, seed=5)[..., 0].to(torch.float64)
    f = torch.fft.fft2(x)
    crop = torch.zeros(3, 20, 20, dtype=f.dtype)
    crop[:, :10, :10], crop[:, -10:, :10] = f[:, :10, :10], f[:, -10:, :10]
    crop[:, :10, -10:], crop[:, -10:, -10:] = f[:, :10, -10:], f[:, -10:, -10:]
    inverse = torch.fft.ifft2(crop * (20 / 28) ** 2)
    assert inverse.imag.abs().max() > 0.1
    assert torch.allclose(inverse.real, low_freq_crop_reference(x, 20, channels_last=False), atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
def test_the_matmul_fast_path_equals_the_reference(dtype, tol):
    for shape, b in (((3, 28, 28, 2), 20), ((2, 24, 28, 1), (16, 22)), ((1, 64, 64, 3), 46)):
        x = torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(1))
        ref, fast = low_freq_crop_reference(x, b), low_freq_crop_matmul(x, b)
        assert ref.shape == fast.shape and (ref - fast).abs().max() < tol
    x = torch.randn(2, 28, 28, 1, dtype=dtype)
    assert (low_freq_crop_reference(x, 20, rescale_energy=False) - low_freq_crop_matmul(x, 20, rescale_energy=False)
            ).abs().max() < tol * 2


def test_lanczos_matches_pillow():
    image = pytest.importorskip("PIL.Image")
    import numpy as np

    a = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    for size in (20, 13):
        ref = np.asarray(image.fromarray(a, mode="F").resize((size, size), image.LANCZOS))
        ours = lanczos_resize(torch.from_numpy(a), size, channels_last=False).numpy()
        assert np.abs(ref - ours).max() < 1e-5
    out = low_freq_crop(torch.full((2, 28, 28, 1), 0.3), 15, backend="lanczos_resize")
    assert out.shape == (2, 15, 15, 1) and (out - 0.3).abs().max() < 1e-6


def test_the_adapter_feeds_the_crop_to_a_copy_of_the_model():
    model = forwardkit.build_model({"name": "efficienttrain_cnn", "widths": [4, 8], "strides": [1, 2]})
    adapted = forwardkit.create("adapter", "low_freq_crop", bandwidth=20).apply(model)
    assert isinstance(adapted, CroppedInput) and adapted.model is not model
    x = torch.rand(2, 28, 28, 1)
    model.eval()
    adapted.eval()
    with torch.no_grad():
        assert torch.allclose(adapted(x), model(low_freq_crop(x, 20)), atol=1e-6)
        out = adapted.forward_batch({"x": x, "y": torch.zeros(2, dtype=torch.long)})
    assert out.shape == (2, 10)


@pytest.mark.parametrize("backend", ["fft", "dft_matmul", "lanczos_resize"])
def test_outputs_have_standard_strides_even_with_one_channel(backend):
    """A size-1 channel axis with an odd stride passes is_contiguous() but sends the next conv to a slower kernel."""
    out = low_freq_crop(torch.rand(4, 28, 28, 1), 20, backend=backend)
    assert out.stride() == (400, 20, 1, 1)
