"""The ``random_pad_crop`` callback (the miniature's +-2 px crop augmentation): the batched gather equals
the per-image reference, shifts are what they claim, and the offsets are seeded and resumable."""

from __future__ import annotations

import pytest
import torch
from forwardkit_ibn_net.augment import RandomPadCrop, draw_offsets, random_pad_crop, random_pad_crop_reference

from forwardkit.errors import ForwardkitError


def images(b: int = 6, h: int = 7, w: int = 5, c: int = 3) -> torch.Tensor:
    return torch.randn(b, h, w, c, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("mode", ["replicate", "constant", "reflect"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_batched_crop_equals_the_per_image_reference(mode, channels_last):
    x = images()
    if not channels_last:
        x = x.permute(0, 3, 1, 2).contiguous()
    offsets = draw_offsets(x.shape[0], 2, torch.Generator().manual_seed(1))
    kw = {"padding": 2, "mode": mode, "fill": 0.25, "channels_last": channels_last}
    out = random_pad_crop(x, offsets, **kw)
    assert out.shape == x.shape
    assert torch.equal(out, random_pad_crop_reference(x, offsets, **kw))


def test_centre_offset_and_zero_padding_are_the_identity():
    x = images()
    centre = torch.full((x.shape[0], 2), 2)
    assert torch.equal(random_pad_crop(x, centre, padding=2), x)
    assert random_pad_crop(x, torch.zeros(x.shape[0], 2, dtype=torch.long), padding=0) is x


def test_offsets_shift_the_image():
    x = images(b=1)
    down_right = random_pad_crop(x, torch.tensor([[0, 0]]), padding=2, mode="constant", fill=9.0)
    assert torch.equal(down_right[:, 2:, 2:], x[:, :-2, :-2])  # content moves by +p
    assert torch.all(down_right[:, :2] == 9.0) and torch.all(down_right[:, :, :2] == 9.0)
    up = random_pad_crop(x, torch.tensor([[4, 2]]), padding=2)  # dy = 2p: content moves up by p
    assert torch.equal(up[:, :-2], x[:, 2:])
    assert torch.equal(up[:, -2:], x[:, -1:].expand_as(up[:, -2:]))  # replicated bottom row


def test_offsets_cover_the_range_uniformly():
    off = draw_offsets(20000, 2, torch.Generator().manual_seed(0))
    assert off.min() == 0 and off.max() == 4
    counts = torch.bincount(off.flatten(), minlength=5).float() / off.numel()
    assert torch.allclose(counts, torch.full((5,), 0.2), atol=0.01)


def test_callback_is_seeded_and_resumes_the_same_offsets():
    batch = {"x": images(), "y": torch.zeros(6, dtype=torch.long)}
    a = RandomPadCrop(seed=5)
    first = a.on_batch_start(batch, None)["x"]
    state = a.state_dict()
    second = a.on_batch_start(batch, None)["x"]
    b = RandomPadCrop(seed=5)
    assert torch.equal(b.on_batch_start(batch, None)["x"], first)
    c = RandomPadCrop(seed=99)
    c.load_state_dict(state)
    assert torch.equal(c.on_batch_start(batch, None)["x"], second) and c.batches == 2
    assert torch.equal(batch["x"], images())  # the input batch is not changed in place
    assert not torch.equal(first, batch["x"])


def test_callback_refuses_non_image_batches():
    with pytest.raises(ForwardkitError, match="4-d image batch"):
        RandomPadCrop().on_batch_start({"x": torch.zeros(4, 3)}, None)
