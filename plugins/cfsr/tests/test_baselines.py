"""The baselines: Pillow-convention bicubic, the plain CNN of cfsr_tiny's size, the Swin-style window attention
block of the cost benchmark, and the sr_metrics analyzer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forwardkit_cfsr.analyzer import SRMetrics
from forwardkit_cfsr.baselines import SRCNN, bicubic_sr
from forwardkit_cfsr.bicubic import bicubic_resize, resize_matrix
from forwardkit_cfsr.cfsr import CFSR
from forwardkit_cfsr.window_attention import SwinBlock, WindowAttention, shift_mask, window_partition, window_reverse

from forwardkit.interfaces.dataset import DatasetMetadata
from forwardkit.nn import multi_head_attention


@pytest.mark.parametrize(("size", "out"), [((10, 13), (20, 26)), ((9, 7), (27, 21)), ((8, 12), (32, 48)),
                                           ((40, 52), (10, 13))])
def test_bicubic_equals_pillow(size: tuple[int, int], out: tuple[int, int]) -> None:
    from PIL import Image

    image = np.random.default_rng(0).random(size).astype(np.float32)
    expected = np.asarray(Image.fromarray(image, mode="F").resize(out[::-1], Image.Resampling.BICUBIC))
    got = bicubic_resize(torch.from_numpy(image)[None, :, :, None].double(), out)[0, :, :, 0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_bicubic_reproduces_constants_and_differs_from_torchs_a_075() -> None:
    rows = resize_matrix(7, 14)
    torch.testing.assert_close(rows.sum(1), torch.ones(14))
    x = torch.rand(1, 6, 5, 3)
    torch_bicubic = torch.nn.functional.interpolate(x.permute(0, 3, 1, 2), scale_factor=2, mode="bicubic",
                                                    align_corners=False).permute(0, 2, 3, 1)
    assert (bicubic_sr(x, 2) - torch_bicubic).abs().max() > 1e-3  # torch uses a = -0.75


def test_sr_cnn_has_cfsr_tiny_size_and_a_bicubic_residual() -> None:
    cnn = SRCNN()
    params = sum(p.numel() for p in cnn.parameters())
    assert params == 37_952 and len(cnn.convs) == 5
    tiny_trained, tiny_merged = 38_916, 36_804  # tests/test_mechanism.py::test_released_parameter_counts
    assert tiny_merged < params < tiny_trained
    with torch.no_grad():
        cnn.convs[-1].weight.zero_()
        cnn.convs[-1].bias.zero_()
    x = torch.rand(2, 8, 9, 3)
    torch.testing.assert_close(cnn(x), bicubic_sr(x, 2))
    assert SRCNN(scale=3)(x).shape == (2, 24, 27, 3)
    assert not torch.allclose(SRCNN(residual="none")(x), bicubic_sr(x, 2), atol=0.1)


def test_window_partition_round_trip_and_shift_mask() -> None:
    x = torch.randn(2, 16, 24, 5)
    windows = window_partition(x, 8)
    assert windows.shape == (2 * 6, 8, 8, 5) and torch.equal(windows[1], x[0, :8, 8:16])
    assert torch.equal(window_reverse(windows, 8, 16, 24), x)
    mask = shift_mask(16, 16, 8, 4)
    assert mask.shape == (4, 1, 64, 64) and torch.all(mask[0] == 0)  # the top-left window is one region
    assert torch.isinf(mask[3]).any() and torch.all(mask[3].diagonal(dim1=-2, dim2=-1) == 0)


def test_one_window_over_the_whole_image_is_global_attention() -> None:
    torch.manual_seed(0)
    wa = WindowAttention(dim=12, num_heads=3, window=4)
    with torch.no_grad():
        wa.bias.table.zero_()
    x = torch.randn(2, 4, 4, 12)
    attn = wa.attn
    expected = multi_head_attention(x, attn.qkv.weight, attn.proj.weight, num_heads=3, qkv_bias=attn.qkv.bias,
                                    proj_bias=attn.proj.bias)
    torch.testing.assert_close(wa(x), expected, rtol=1e-5, atol=1e-5)


def test_swin_block_pads_and_keeps_the_shape() -> None:
    for shift in (False, True):
        block = SwinBlock(dim=24, num_heads=6, window=8, shift=shift)
        assert block(torch.randn(1, 13, 20, 24)).shape == (1, 13, 20, 24)


def test_sr_metrics_scores_the_held_out_photos_against_bicubic() -> None:
    from forwardkit_cfsr.reproduction import bicubic_figures

    model = CFSR(preset="cfsr_tiny", depths=[1], scale=4)
    analysis = SRMetrics(test_images=["chelsea"]).analyze(model)
    assert [r["image"] for r in analysis.tables["per_image"]] == ["chelsea"]
    assert analysis.tables["per_image"][0]["lr"] == "75x112"
    data = {"name": "sr_patches", "scale": 4, "train_images": ["coffee", "camera"], "test_images": ["chelsea"],
            "patches_per_epoch": 4, "val_patches": 1}
    figures = bicubic_figures({"data": data}, seed=0, smoke=True)
    # the analyzer's bicubic column and the reproduction's bicubic arm are one computation
    assert analysis.numbers["bicubic_psnr"] == pytest.approx(figures["test/psnr"], abs=1e-9)
    assert analysis.numbers["bicubic_ssim"] == pytest.approx(figures["test/ssim"], abs=1e-9)
    assert 20 < figures["test/psnr"] < 40 and analysis.numbers["psnr"] < analysis.numbers["bicubic_psnr"]  # untrained
    # batches that carry HR targets are scored instead of the photos
    x = torch.rand(2, 6, 6, 3)
    y = bicubic_sr(x, 4).clamp(0, 1)
    given = SRMetrics(scale=4).analyze(_Bicubic(4), [{"x": x, "y": y}])
    assert given.numbers["images"] == 2 and given.numbers["psnr"] > 50 and given.numbers["psnr_gain"] == 0.0


class _Bicubic(torch.nn.Module):
    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic_sr(x, self.scale)


def test_the_models_take_scale_from_the_data() -> None:
    meta = DatasetMetadata(task="image_restoration", input_shape=(24, 24, 3), target_shape=(96, 96, 3),
                           extra={"scale": 4})  # what sr_patches says at scale 4
    assert SRCNN.fields_from_metadata(meta) == {"in_channels": 3, "scale": 4}
