"""On-the-fly augmentation of stage 1 (paper: "random rotation, zoom, brightness, translation") and the
``lightweight_augment`` callback that applies it to every training batch (the card's baseline (b)).

:func:`augment_images` draws, per sample, an angle ``theta ~ U(-rot_deg, rot_deg)``, a scale ``s ~ U(1 - zoom,
1 + zoom)``, a shift ``(t_x, t_y) ~ U(-translate, translate)^2`` (fractions of the width / height) and a brightness
delta ``d ~ U(-brightness, brightness)``, and returns ``clip(warp(x) + d)``: the output pixel at normalised position
``p`` (``[-1, 1]^2``) samples the input at ``R(-theta) (p - 2 t) / s`` (bilinear, zeros outside), so the content is
rotated by ``theta``, magnified by ``s`` and moved by ``t`` of the image size. The magnitudes are the card's
defaults; the paper's are unknown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.interfaces import Callback
from forwardkit.interfaces.context import RunContext
from forwardkit_lightweight_cnn.config import AugmentCallbackConfig, AugmentFields


def augmentation_parameters(batch: int, *, generator: torch.Generator, rot_deg: float, zoom: float,
                            translate: float, brightness: float) -> Tensor:
    """``(B, 5)``: per sample ``[theta (radians), s, t_x, t_y, d]``, drawn from ``generator`` (on the CPU)."""
    u = torch.rand(batch, 5, generator=generator) * 2.0 - 1.0  # U(-1, 1)
    return torch.stack([u[:, 0] * math.radians(rot_deg), 1.0 + u[:, 1] * zoom, u[:, 2] * translate,
                        u[:, 3] * translate, u[:, 4] * brightness], dim=1)


def affine_matrices(params: Tensor) -> Tensor:
    """``(B, 2, 3)`` matrices for ``F.affine_grid`` from ``(B, 5)`` parameters: input = ``A (p - 2t)``,
    ``A = R(-theta) / s``."""
    theta, s, tx, ty = params[:, 0], params[:, 1], params[:, 2], params[:, 3]
    cos, sin = torch.cos(theta) / s, torch.sin(theta) / s
    a = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], dim=1)  # (B, 2, 2) = R(-theta)/s
    t = torch.stack([2.0 * tx, 2.0 * ty], dim=-1).unsqueeze(-1)  # (B, 2, 1), normalised units
    return torch.cat([a, -(a @ t)], dim=2)


def apply_augmentation(x: Tensor, params: Tensor, value_range: tuple[float, float] | None = (0.0, 1.0)) -> Tensor:
    """Warp and brighten channels-last images ``x`` ``(B, H, W, C)`` with ``(B, 5)`` parameters; same shape."""
    xc = x.permute(0, 3, 1, 2)  # (B, C, H, W)
    params = params.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(affine_matrices(params), list(xc.shape), align_corners=False)
    out = F.grid_sample(xc, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out + params[:, 4].view(-1, 1, 1, 1)
    if value_range is not None:
        out = out.clamp(value_range[0], value_range[1])
    return out.permute(0, 2, 3, 1).contiguous()


def augment_images(x: Tensor, *, generator: torch.Generator, rot_deg: float = 10.0, zoom: float = 0.1,
                   translate: float = 0.1, brightness: float = 0.1,
                   value_range: tuple[float, float] | None = (0.0, 1.0)) -> Tensor:
    """Random rotation, zoom, translation and brightness of ``x`` ``(B, H, W, C)`` -> ``(B, H, W, C)``."""
    params = augmentation_parameters(x.shape[0], generator=generator, rot_deg=rot_deg, zoom=zoom,
                                     translate=translate, brightness=brightness)
    return apply_augmentation(x, params, value_range)


class Augmenter:
    """The augmentation of a config (:class:`AugmentFields`) with its own generator, whose state resumes runs."""

    def __init__(self, cfg: AugmentFields) -> None:
        self.cfg = cfg
        seed = cfg.seed if cfg.seed is not None else int(torch.randint(0, 2**62, (1,)).item())
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, x: Tensor) -> Tensor:
        cfg = self.cfg
        if x.dim() != 4:
            raise ValueError(f"the augmentation needs channels-last images (B, H, W, C), got shape {tuple(x.shape)}")
        vr = None if cfg.value_range is None else (float(cfg.value_range[0]), float(cfg.value_range[1]))
        return augment_images(x, generator=self.generator, rot_deg=cfg.rot_deg, zoom=cfg.zoom,
                              translate=cfg.translate, brightness=cfg.brightness, value_range=vr)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])


class LightweightAugment(Callback):
    """Replaces the images ``batch["x"]`` ``(B, H, W, C)`` of every training batch by :func:`augment_images` of them
    (evaluation batches are untouched): the card's baseline (b), the unified model trained with augmentation."""

    Config = AugmentCallbackConfig
    config: AugmentCallbackConfig
    conformance_experiment = {"data": {"name": "blobs", "image_size": 8, "n_samples": 200, "clusters_per_class": 2}}

    def __init__(self, config: AugmentCallbackConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.augment = Augmenter(self.config)

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        return {**batch, "x": self.augment(batch["x"])}

    def state_dict(self) -> dict[str, Any]:
        return self.augment.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.augment.load_state_dict(state)
