"""The ``random_pad_crop`` callback: the card's light augmentation ("random crop +-2 px only").

Not part of IBN-Net itself: the miniature reproduction trains every arm with it, as the card asks.
Each training image ``x_b`` of shape ``(H, W, C)`` is padded by ``p`` pixels on every side and cropped
back to ``(H, W)`` at offset ``(dy_b, dx_b)``, drawn uniformly from ``{0, ..., 2p}^2``:

    out_b[i, j] = pad(x_b)[dy_b + i, dx_b + j]        (0 <= i < H, 0 <= j < W)

so ``(dy_b, dx_b) = (p, p)`` is the identity. :func:`random_pad_crop` does this for the whole batch with
one gather; :func:`random_pad_crop_reference` is the per-image loop it must equal (a test checks it).
The offsets come from the callback's own ``torch.Generator`` (on the CPU), so the global random stream
(data order, init) is the same with and without the augmentation, and a resumed run continues the
identical offsets. Evaluation batches are never augmented (the trainer calls ``on_batch_start`` only
in training).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.callback import Callback
from forwardkit.interfaces.context import RunContext
from forwardkit_ibn_net.config import RandomPadCropConfig

__all__ = ["RandomPadCrop", "draw_offsets", "random_pad_crop", "random_pad_crop_reference"]

#: added to the run's seed when the config gives no seed, so the offsets do not repeat the global stream
SEED_OFFSET = 0x63726F70  # "crop"


def _pad_nchw(x: Tensor, padding: int, mode: str, fill: float) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, C, H + 2p, W + 2p)``."""
    if mode == "constant":
        return F.pad(x, (padding,) * 4, mode="constant", value=fill)
    return F.pad(x, (padding,) * 4, mode=mode)


def draw_offsets(batch_size: int, padding: int, generator: torch.Generator) -> Tensor:
    """``(B, 2)`` int64 crop offsets ``(dy, dx)``, each uniform on ``{0, ..., 2 * padding}``."""
    return torch.randint(0, 2 * padding + 1, (batch_size, 2), generator=generator)


def random_pad_crop(x: Tensor, offsets: Tensor, *, padding: int, mode: str = "replicate", fill: float = 0.0,
                    channels_last: bool = True) -> Tensor:
    """Pad by ``padding`` and crop back at ``offsets`` ``(B, 2)``; ``x`` ``(B, H, W, C)`` (or ``(B, C, H, W)``
    with ``channels_last=False``) -> the same shape. One gather for the whole batch."""
    if padding == 0:
        return x
    nchw = x.permute(0, 3, 1, 2) if channels_last else x
    b, _, h, w = nchw.shape
    padded = _pad_nchw(nchw, padding, mode, fill).permute(0, 2, 3, 1)  # (B, H + 2p, W + 2p, C)
    off = offsets.to(x.device)
    rows = off[:, :1] + torch.arange(h, device=x.device)  # (B, H)
    cols = off[:, 1:] + torch.arange(w, device=x.device)  # (B, W)
    idx = torch.arange(b, device=x.device)[:, None, None]
    out = padded[idx, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out if channels_last else out.permute(0, 3, 1, 2)


def random_pad_crop_reference(x: Tensor, offsets: Tensor, *, padding: int, mode: str = "replicate",
                              fill: float = 0.0, channels_last: bool = True) -> Tensor:
    """The same crop, literally: pad each image and slice ``[dy : dy + H, dx : dx + W]``."""
    nchw = x.permute(0, 3, 1, 2) if channels_last else x
    h, w = nchw.shape[-2:]
    crops = []
    for img, (dy, dx) in zip(nchw, offsets.tolist(), strict=True):
        padded = _pad_nchw(img[None], padding, mode, fill)[0]  # (C, H + 2p, W + 2p)
        crops.append(padded[:, dy:dy + h, dx:dx + w])
    out = torch.stack(crops)
    return out.permute(0, 2, 3, 1) if channels_last else out


class RandomPadCrop(Callback):
    """Random shifts of up to ``padding`` px (pad, then crop at a random offset) on every training batch."""

    Config = RandomPadCropConfig
    config: RandomPadCropConfig
    #: runs before callbacks that look at the (augmented) batch
    priority: ClassVar[int] = -10
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {},
        {"padding": 1, "padding_mode": "constant", "fill": 0.5, "seed": 3},
        {"padding": 0},
    ]
    #: the resume check needs image batches: sklearn's 8 x 8 digits and a small builtin ResNet
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": "digits"},
        "model": {"name": "resnet", "depth": 8, "width": 4},
        "trainer": {"epochs": 2, "batch_size": 256},
    }

    def __init__(self, config: RandomPadCropConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.seed = int(cfg.seed if cfg.seed is not None else (torch.initial_seed() + SEED_OFFSET) % 2**63)
        self.generator = torch.Generator()
        self.generator.manual_seed(self.seed)
        self.batches = 0  # augmented batches so far

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        cfg = self.config
        x = batch.get(cfg.key)
        if x is None or x.dim() != 4:
            shape = None if x is None else tuple(x.shape)
            raise ForwardkitError(f"random_pad_crop needs a 4-d image batch in {cfg.key!r} ({cfg.layout}), "
                                  f"got {shape}")
        offsets = draw_offsets(x.shape[0], cfg.padding, self.generator)
        out = dict(batch)
        out[cfg.key] = random_pad_crop(x, offsets, padding=cfg.padding, mode=cfg.padding_mode, fill=cfg.fill,
                                       channels_last=cfg.layout == "channels_last")
        self.batches += 1
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "seed": self.seed, "generator": self.generator.get_state().clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.batches = int(state["batches"])
        self.seed = int(state["seed"])
        self.generator.set_state(torch.as_tensor(state["generator"], dtype=torch.uint8).clone().cpu())
