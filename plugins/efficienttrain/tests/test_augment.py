"""magnitude_augment: identity at m = 0 without noise, the op magnitudes of the design, two ops per image, strength
growing with m, determinism under a generator, and clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from forwardkit_efficienttrain.augment import affine_from_draws, augmentation_draws, magnitude_augment

import forwardkit
from forwardkit.errors import ConfigError


def _digits(n: int = 64) -> torch.Tensor:
    x = torch.zeros(n, 28, 28, 1)
    x[:, 8:20, 10:18] = 1.0  # a bar in the middle: moves, turns and zooms visibly
    return x


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_zero_magnitude_without_noise_is_the_identity():
    x = _digits(4)
    assert magnitude_augment(x, 0.0, generator=_gen(), magnitude_std=0.0) is x


def test_each_image_gets_exactly_num_ops_distinct_ops():
    draws = augmentation_draws(500, 5.0, generator=_gen(), num_ops=2)
    assert (draws["chosen"].sum(1) == 2).all()
    share = draws["chosen"].float().mean(0)  # uniform over the 4 ops: 1/2 each
    assert ((share - 0.5).abs() < 0.08).all()
    assert draws["m"].min() >= 0 and draws["m"].max() <= 10


def test_the_geometric_magnitudes_follow_the_design():
    draws = {"chosen": torch.ones(1, 3, dtype=torch.bool), "m": torch.full((1, 3), 10.0),
             "sign": torch.ones(1, 3), "shift_sign": torch.ones(1, 2)}
    mat = affine_from_draws(draws, ("rotate", "scale", "translate"), rotate_deg_per_m=3.0, translate_per_m=1 / 30,
                            scale_per_m=1 / 40)[0]
    s, theta = 1.25, math.radians(30.0)  # m = 10: 30 degrees, zoom 1 + 10/40
    assert torch.allclose(mat[:, :2], torch.tensor([[math.cos(theta), math.sin(theta)],
                                                    [-math.sin(theta), math.cos(theta)]]) / s, atol=1e-6)
    shift = 2 * 10 / 30  # 1/3 of the side on each axis, in [-1, 1] units
    assert torch.allclose(mat[:, 2], -(mat[:, :2] @ torch.tensor([shift, shift])), atol=1e-6)


def test_noise_only_has_the_std_of_the_design():
    x = torch.zeros(200, 16, 16, 1)
    out = magnitude_augment(x, 8.0, generator=_gen(), num_ops=1, ops=("noise",), magnitude_std=0.0)
    assert abs(float(out.std()) - 0.08) < 0.003


def test_strength_grows_with_the_magnitude():
    x = _digits()
    change = [float((magnitude_augment(x, m, generator=_gen(1)) - x).abs().mean()) for m in (1.0, 5.0, 9.0)]
    assert change[0] < change[1] < change[2]


def test_same_generator_state_same_draws_and_shapes_kept():
    x = _digits(8)
    a = magnitude_augment(x, 9.0, generator=_gen(7))
    b = magnitude_augment(x, 9.0, generator=_gen(7))
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == x.dtype
    assert not torch.equal(a, magnitude_augment(x, 9.0, generator=_gen(8)))
    assert magnitude_augment(x, 9.0, generator=_gen(), clamp=(0.0, 1.0)).min() >= 0.0


def test_bad_settings_name_the_field():
    with pytest.raises(ConfigError, match="num_ops"):
        forwardkit.create("callback", "magnitude_augment", num_ops=3, ops=["rotate", "noise"])
    with pytest.raises(ConfigError, match="magnitude"):
        forwardkit.create("callback", "magnitude_augment", magnitude=11)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        magnitude_augment(torch.zeros(3, 28), 1.0, generator=_gen())
    cb = forwardkit.create("callback", "magnitude_augment")
    with pytest.raises(KeyError, match="image_key"):
        cb.on_batch_start({"image": torch.zeros(1, 4, 4, 1)}, None)
