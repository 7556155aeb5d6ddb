"""The stage-1 augmentation (random rotation, zoom, translation, brightness): special cases that pin the geometry,
and the generator's state, which resumed runs restore."""

from __future__ import annotations

import math

import torch
from forwardkit_lightweight_cnn.augment import Augmenter, apply_augmentation, augment_images
from forwardkit_lightweight_cnn.config import AugmentFields


def params(theta=0.0, s=1.0, tx=0.0, ty=0.0, d=0.0, batch=1):
    return torch.tensor([[theta, s, tx, ty, d]] * batch)


def test_zero_magnitudes_are_the_identity():
    x = torch.rand(3, 9, 9, 2)
    out = augment_images(x, generator=torch.Generator().manual_seed(0), rot_deg=0, zoom=0, translate=0, brightness=0)
    assert torch.allclose(out, x, atol=1e-6)


def test_translation_by_one_pixel_shifts_the_content():
    x = torch.zeros(1, 8, 8, 1)
    x[0, 3, 3, 0] = 1.0
    out = apply_augmentation(x, params(tx=1 / 8), value_range=None)  # t_x = 1/8 of the width = one pixel right
    assert torch.allclose(out[0, 3, 4, 0], torch.tensor(1.0), atol=1e-6) and out[0, 3, 3, 0].abs() < 1e-6


def test_quarter_turn_is_rot90():
    x = torch.rand(2, 6, 6, 1)
    out = apply_augmentation(x, params(theta=math.pi / 2, batch=2), value_range=None)
    assert torch.allclose(out, torch.rot90(x, k=-1, dims=(1, 2)), atol=1e-5)


def test_zoom_in_magnifies_and_brightness_adds_then_clips():
    x = torch.zeros(1, 8, 8, 1)
    x[0, 3:5, 3:5, 0] = 1.0  # a 2x2 square at the centre
    assert (apply_augmentation(x, params(s=2.0), value_range=None) > 0.5).sum() == 16  # 4x4 after zoom x2
    bright = apply_augmentation(x, params(d=0.3), value_range=(0.0, 1.0))
    assert torch.allclose(bright, (x + 0.3).clamp(0, 1))


def test_draws_follow_the_generator_state():
    aug = Augmenter(AugmentFields(seed=3))
    x = torch.rand(4, 8, 8, 1)
    state = aug.state_dict()
    first = aug(x)
    assert not torch.equal(first, aug(x))  # the stream moves on
    aug.load_state_dict(state)
    assert torch.equal(first, aug(x))
