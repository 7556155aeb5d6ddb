"""The image_restoration task: Y-channel PSNR and SSIM against hand-computed values, crop border, loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from forwardkit_datasets.restoration import ImageRestoration, prepare, psnr, rgb_to_y, ssim

import forwardkit

C1 = (0.01 * 255) ** 2  # SSIM's constant for 8-bit data (K1 = 0.01, L = 255)


def _flat(value: float, side: int = 32) -> np.ndarray:
    return np.full((side, side, 3), value, dtype=np.float64)


def test_bt601_luma_by_hand() -> None:
    assert rgb_to_y(np.array([0.0, 0.0, 0.0])) == pytest.approx(16.0)
    assert rgb_to_y(np.array([1.0, 1.0, 1.0])) == pytest.approx(16 + 65.481 + 128.553 + 24.966)  # 235
    assert rgb_to_y(np.array([1.0, 0.0, 0.0])) == pytest.approx(81.481)
    assert rgb_to_y(np.array([0.0, 0.0, 1.0])) == pytest.approx(40.966)
    gray = np.full((4, 4, 1), 0.5)
    np.testing.assert_allclose(prepare(gray), 127.5)  # one channel: itself, on the 0..255 scale


def test_psnr_of_a_constant_offset_by_hand() -> None:
    target = _flat(128 / 255)
    pred = _flat(130 / 255)  # +2 levels on R, G and B: dY = 219 * 2 / 255 = 438 / 255 on the 0..255 scale
    expected = 20 * math.log10(255 / (438 / 255))  # 10 log10(255^2 / dY^2)
    assert expected == pytest.approx(43.4321, abs=1e-4)  # 20 log10(65025 / 438)
    assert psnr(pred, target) == pytest.approx(expected, abs=1e-9)
    # on [0, 1]: 10 log10(1 / MSE) with the MSE of Y / 255 (the card's convention) is the same number
    mse01 = ((438 / 255) / 255) ** 2
    assert 10 * math.log10(1 / mse01) == pytest.approx(expected, abs=1e-9)
    from skimage.metrics import peak_signal_noise_ratio

    assert peak_signal_noise_ratio(rgb_to_y(target) / 255, rgb_to_y(pred) / 255, data_range=1.0) == pytest.approx(
        expected, abs=1e-9)
    # RGB PSNR: MSE = (2)^2 on every channel
    assert psnr(pred, target, channel="rgb") == pytest.approx(20 * math.log10(255 / 2), abs=1e-9)


def test_psnr_of_identical_images_is_inf_and_capped_by_the_task() -> None:
    image = np.round(np.random.default_rng(0).random((20, 20, 3)) * 255) / 255  # an 8-bit image, as HR photos are
    assert psnr(image, image) == math.inf
    task = ImageRestoration(max_psnr=80.0)
    t = torch.from_numpy(image).float()[None]
    assert task.metrics(t, {"y": t})["psnr"] == (80.0, 1)


def test_ssim_of_constant_images_by_hand() -> None:
    # constant images: variances and covariance vanish, SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    target, pred = _flat(128 / 255), _flat(153 / 255)
    yt, yp = 16 + 219 * 128 / 255, 16 + 219 * 153 / 255
    expected = (2 * yt * yp + C1) / (yt**2 + yp**2 + C1)
    assert ssim(pred, target) == pytest.approx(expected, abs=1e-9)
    assert expected < 1.0
    noise = np.random.default_rng(1).random((32, 32, 3))
    assert ssim(noise, noise) == pytest.approx(1.0)


def test_ssim_of_a_textured_pair_matches_wang_et_al() -> None:
    """Wang et al. (2004) written out: Gaussian-window means, variances, covariance (11x11, sigma 1.5,
    population statistics), the SSIM map, averaged over the positions whose window lies inside the image."""
    rng = np.random.default_rng(2)
    target = rng.random((40, 40, 3))
    pred = np.clip(target + 0.1 * rng.standard_normal(target.shape), 0, 1)
    x, y = rgb_to_y(pred), rgb_to_y(target)
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()

    def filt(a: np.ndarray) -> np.ndarray:  # 'valid' correlation with the 11x11 window
        n = a.shape[0] - 10
        return np.array([[(a[i:i + 11, j:j + 11] * w).sum() for j in range(n)] for i in range(n)])

    mx, my = filt(x), filt(y)
    vx, vy, cxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    c2 = (0.03 * 255) ** 2
    ssim_map = ((2 * mx * my + C1) * (2 * cxy + c2)) / ((mx**2 + my**2 + C1) * (vx + vy + c2))
    assert ssim(pred, target) == pytest.approx(float(ssim_map.mean()), abs=1e-9)


def test_crop_border_removes_the_frame() -> None:
    target = _flat(128 / 255, side=24)
    pred = target.copy()
    pred[:2] = 0.0  # errors only in the top two rows
    pred[:, -2:] = 1.0  # and the last two columns
    assert math.isfinite(psnr(pred, target))
    assert psnr(pred, target, border=2) == math.inf
    task = forwardkit.create("task", "image_restoration", scale=2)
    assert task.border == 2 and ImageRestoration(scale=2, crop_border=0).border == 0
    out, y = torch.from_numpy(pred).float()[None], torch.from_numpy(target).float()[None]
    assert task.metrics(out, {"y": y})["psnr"] == (100.0, 1)
    assert task.metrics(out, {"y": y})["ssim"][0] == pytest.approx(1.0)


def test_quantize_scores_the_saved_8bit_image() -> None:
    target = _flat(100 / 255)
    pred = target + 0.3 / 255  # rounds back onto the target's 8-bit level
    assert psnr(pred, target, quantize=True) == math.inf
    assert math.isfinite(psnr(pred, target, quantize=False))
    # predictions are clamped to [0, 1] before scoring
    assert psnr(target * 0 + 1.7, _flat(1.0)) == math.inf


def test_losses() -> None:
    out = torch.tensor([[[[0.2, 0.4, 0.6]]]]).expand(1, 4, 4, 3).contiguous()
    y = torch.full_like(out, 0.4)
    assert float(ImageRestoration().loss(out, {"y": y})) == pytest.approx((0.2 + 0.0 + 0.2) / 3)
    assert float(ImageRestoration(loss="mse").loss(out, {"y": y})) == pytest.approx((0.04 + 0.04) / 3)
    eps = 1e-3
    charb = (2 * math.sqrt(0.04 + eps**2) + eps) / 3
    assert float(ImageRestoration(loss="charbonnier").loss(out, {"y": y})) == pytest.approx(charb, rel=1e-5)
    with pytest.raises(ValueError, match="shaped like the targets"):
        ImageRestoration().loss(out[:, :2], {"y": y})


def test_metrics_are_per_image_sums() -> None:
    task = ImageRestoration(scale=2)
    out, batch = task.example(6, generator=torch.Generator().manual_seed(0))
    whole = task.metrics(out, batch)
    single = [task.metrics(out[i:i + 1], {"y": batch["y"][i:i + 1]}) for i in range(6)]
    for key in ("psnr", "ssim", "loss"):
        assert whole[key][1] == 6
        assert whole[key][0] == pytest.approx(sum(s[key][0] for s in single))
    expected = np.mean([psnr(out[i], batch["y"][i], border=2, quantize=True) for i in range(6)])
    assert whole["psnr"][0] / 6 == pytest.approx(expected)


def test_scale_comes_from_the_dataset_metadata() -> None:
    meta = forwardkit.create("dataset", "sr_patches", scale=3, patches_per_epoch=4, val_patches=1).metadata
    assert ImageRestoration.fields_from_metadata(meta) == {"scale": 3}
    assert ImageRestoration(**ImageRestoration.fields_from_metadata(meta)).border == 3
