"""The IBN layer (paper fig. 3b): channel split, IN/BN halves, special cases."""

from __future__ import annotations

import pytest
import torch
from forwardkit_ibn_net.ibn import IBN, ibn_from_bn, in_channel_slice
from torch import nn


def _trained_bn(c: int, seed: int = 0) -> nn.BatchNorm2d:
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(c, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(c, generator=g))
        bn.running_mean.copy_(torch.randn(c, generator=g))
        bn.running_var.copy_(torch.rand(c, generator=g) + 0.5)
        bn.num_batches_tracked.fill_(7)
    return bn


@pytest.mark.parametrize(("c", "r", "in_first", "expected"), [
    (8, 0.5, True, (slice(0, 4), slice(4, 8))),
    (7, 0.5, True, (slice(0, 3), slice(3, 7))),
    (7, 0.5, False, (slice(4, 7), slice(0, 4))),
    (10, 0.4, False, (slice(6, 10), slice(0, 6))),
    (5, 0.0, True, (slice(0, 0), slice(0, 5))),
])
def test_channel_split_is_int_c_times_r(c: int, r: float, in_first: bool, expected: tuple[slice, slice]) -> None:
    assert in_channel_slice(c, r, in_first) == expected
    layer = IBN(channels=c, ratio=r, in_first=in_first)
    assert layer.half == int(c * r)
    assert (layer.IN.num_features if layer.IN is not None else 0) == int(c * r)
    assert layer.BN.num_features == c - int(c * r)


@pytest.mark.parametrize("in_first", [True, False])
def test_halves_are_instance_and_batch_norm(in_first: bool) -> None:
    torch.manual_seed(0)
    layer = IBN(channels=7, ratio=0.5, in_first=in_first).train()
    x = torch.randn(4, 7, 5, 5) * 3 + 2
    y = layer(x)
    ip, bp = layer.in_part, layer.bn_part
    inst = (x[:, ip] - x[:, ip].mean((2, 3), keepdim=True)) / (x[:, ip].var((2, 3), unbiased=False, keepdim=True)
                                                                  + 1e-5).sqrt()
    batch = (x[:, bp] - x[:, bp].mean((0, 2, 3), keepdim=True)) / (
        x[:, bp].var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    torch.testing.assert_close(y[:, ip], inst, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(y[:, bp], batch, rtol=1e-4, atol=1e-4)


def test_ratio_zero_equals_the_original_bn() -> None:
    bn = _trained_bn(6)
    x = torch.randn(3, 6, 4, 4)
    layer = ibn_from_bn(bn, 0.0)
    assert layer.IN is None
    bn.eval(), layer.eval()
    assert torch.equal(layer(x), bn(x))
    bn.train(), layer.train()
    torch.testing.assert_close(layer(x), bn(x), rtol=0, atol=0)


def test_conversion_keeps_the_bn_half_statistics_and_affine() -> None:
    bn = _trained_bn(8)
    layer = ibn_from_bn(bn, 0.5)
    assert torch.equal(layer.BN.running_mean, bn.running_mean[4:])
    assert torch.equal(layer.BN.running_var, bn.running_var[4:])
    assert torch.equal(layer.BN.weight, bn.weight[4:]) and torch.equal(layer.BN.bias, bn.bias[4:])
    assert torch.equal(layer.IN.weight, bn.weight[:4]) and torch.equal(layer.IN.bias, bn.bias[:4])
    assert int(layer.BN.num_batches_tracked) == 7
    # eval: the BN half is exactly the old BN on its channels
    bn.eval(), layer.eval()
    x = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(layer(x)[:, 4:], bn(x)[:, 4:], rtol=1e-6, atol=1e-6)
    fresh = ibn_from_bn(bn, 0.5, copy_stats=False)
    assert torch.equal(fresh.BN.running_mean, torch.zeros(4)) and torch.equal(fresh.IN.weight, torch.ones(4))


@pytest.mark.parametrize("training", [True, False])
def test_in_half_of_a_sample_ignores_the_rest_of_the_batch(training: bool) -> None:
    torch.manual_seed(1)
    layer = IBN(channels=6, ratio=0.5).train(training)
    x = torch.randn(4, 6, 5, 5)
    x2 = x.clone()
    x2[1:] = torch.randn(3, 6, 5, 5) * 4 + 1
    y, y2 = layer(x), layer(x2)
    assert torch.equal(y[0, :3], y2[0, :3])  # IN half of sample 0: unchanged
    if training:
        assert not torch.allclose(y[0, 3:], y2[0, 3:])  # BN half: batch statistics


def test_bn_half_uses_running_stats_in_eval() -> None:
    bn = _trained_bn(4, seed=3)
    layer = ibn_from_bn(bn, 0.5).eval()
    x = torch.randn(2, 4, 3, 3)
    expected = (x[:, 2:] - bn.running_mean[2:, None, None]) / (bn.running_var[2:, None, None] + 1e-5).sqrt()
    expected = expected * bn.weight[2:, None, None] + bn.bias[2:, None, None]
    torch.testing.assert_close(layer(x)[:, 2:], expected)
    # batch size 1 works in eval
    assert layer(x[:1]).shape == (1, 4, 3, 3)


def test_in_half_is_invariant_to_per_image_per_channel_affine_appearance() -> None:
    """IN removes any per-image, per-channel scale a > 0 and offset b of its input (affine invariance)."""
    torch.manual_seed(2)
    layer = IBN(channels=8, ratio=0.5, eps=1e-8).train()
    x = torch.randn(3, 8, 6, 6)
    scale = torch.rand(3, 8, 1, 1) * 3 + 0.2
    offset = torch.randn(3, 8, 1, 1) * 5
    y, y2 = layer(x), layer(x * scale + offset)
    torch.testing.assert_close(y[:, :4], y2[:, :4], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(y[:, 4:], y2[:, 4:], atol=1e-2)  # the BN half keeps appearance


def test_bad_input_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="IBN expects"):
        IBN(channels=4)(torch.randn(2, 5, 3, 3))
