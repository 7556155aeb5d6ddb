"""The "weaker augmentation" half of the curriculum: a RandAugment-like batch transform with one magnitude knob m.

The paper (sec. 4) grows the RandAugment magnitude of timm's ``rand-m{m}-mstd0.5-inc1`` from 1 to 9 over training.
Neither timm nor torchvision exists here, so this is OUR torch-only design, not the timm implementation: every image
gets ``num_ops`` (2) distinct ops drawn uniformly from rotate / translate / scale / noise; each op draws its own
magnitude ``m' = clip(N(m, mstd), 0, 10)`` (timm's ``mstd0.5``) and, for the geometric ops, a random sign; the
severity increases with m (timm's ``inc1``):

    rotate     angle  = +/- 3 m' degrees
    translate  shift  = +/- m'/30 of the side, on each axis (its own sign per axis)
    scale      zoom   = 1 +/- m'/40
    noise      x + m'/100 N(0, 1) per pixel

The geometric ops of one image compose into one affine map: the output pixel at the normalised position ``p``
(``[-1, 1]^2``) samples the input at ``R(-theta) (p - 2 t) / s`` (bilinear, ``padding`` outside). The random numbers
of a batch are drawn in a fixed amount from the augmenter's own generator, whatever is chosen, so a run resumed from
the generator's state draws exactly what the uninterrupted run draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.interfaces import Callback
from forwardkit.interfaces.context import RunContext
from forwardkit_efficienttrain.config import ALL_OPS, AugmentSettings, MagnitudeAugmentConfig


def augmentation_draws(n: int, magnitude: float, *, generator: torch.Generator, num_ops: int = 2,
                       ops: Sequence[str] = ALL_OPS, magnitude_std: float = 0.5) -> dict[str, Tensor]:
    """The random choices for ``n`` images (CPU tensors): ``chosen`` ``(n, len(ops))`` bool (``num_ops`` per row),
    ``m`` ``(n, len(ops))`` per-op magnitudes in [0, 10], ``sign`` ``(n, 3)`` in {-1, 1} (rotate, scale, unused)
    and ``shift_sign`` ``(n, 2)``."""
    pool = len(ops)
    order = torch.rand(n, pool, generator=generator).argsort(dim=1)
    chosen = torch.zeros(n, pool, dtype=torch.bool)
    chosen.scatter_(1, order[:, :num_ops], True)
    m = (magnitude + magnitude_std * torch.randn(n, pool, generator=generator)).clamp(0.0, 10.0)
    signs = torch.where(torch.rand(n, 5, generator=generator) < 0.5, -1.0, 1.0)
    return {"chosen": chosen, "m": m, "sign": signs[:, :3], "shift_sign": signs[:, 3:]}


def _op(draws: Mapping[str, Tensor], ops: Sequence[str], name: str) -> Tensor:
    """``(n,)`` magnitude of op ``name`` where it was chosen, 0 elsewhere (and where the pool lacks it)."""
    if name not in ops:
        return torch.zeros(draws["m"].shape[0])
    j = list(ops).index(name)
    return torch.where(draws["chosen"][:, j], draws["m"][:, j], torch.zeros(()))


def affine_from_draws(draws: Mapping[str, Tensor], ops: Sequence[str], *, rotate_deg_per_m: float,
                      translate_per_m: float, scale_per_m: float) -> Tensor:
    """``(n, 2, 3)`` matrices for ``F.affine_grid``: input position = ``R(-theta) (p - 2 t) / s``."""
    theta = torch.deg2rad(_op(draws, ops, "rotate") * rotate_deg_per_m * draws["sign"][:, 0])
    s = 1.0 + _op(draws, ops, "scale") * scale_per_m * draws["sign"][:, 1]
    shift = (_op(draws, ops, "translate") * translate_per_m)[:, None] * draws["shift_sign"]  # (n, 2) of the side
    cos, sin = torch.cos(theta) / s, torch.sin(theta) / s
    a = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], dim=1)  # (n, 2, 2)
    t = (2.0 * shift).unsqueeze(-1)  # normalised units: the side is 2
    return torch.cat([a, -(a @ t)], dim=2)


def magnitude_augment(x: Tensor, magnitude: float, *, generator: torch.Generator, num_ops: int = 2,
                      ops: Sequence[str] = ALL_OPS, magnitude_std: float = 0.5, rotate_deg_per_m: float = 3.0,
                      translate_per_m: float = 1 / 30, scale_per_m: float = 1 / 40, noise_per_m: float = 0.01,
                      padding: str = "zeros", clamp: tuple[float, float] | None = None) -> Tensor:
    """Augment channels-last images ``x`` ``(N, H, W, C)`` at magnitude ``m`` in [0, 10]; same shape and dtype.
    With ``magnitude_std = 0`` a magnitude of 0 returns ``x`` itself."""
    if x.dim() != 4:
        raise ValueError(f"magnitude_augment needs channels-last images (N, H, W, C), got shape {tuple(x.shape)}")
    if not 0.0 <= magnitude <= 10.0:
        raise ValueError(f"magnitude must be in [0, 10], got {magnitude}")
    n = x.shape[0]
    draws = augmentation_draws(n, magnitude, generator=generator, num_ops=num_ops, ops=ops,
                               magnitude_std=magnitude_std)
    noise = torch.randn(x.shape, generator=generator)  # drawn every time: a fixed count of draws per batch
    if magnitude == 0.0 and magnitude_std == 0.0:
        return x
    out = x
    if any(o in ops for o in ("rotate", "translate", "scale")):
        mats = affine_from_draws(draws, ops, rotate_deg_per_m=rotate_deg_per_m, translate_per_m=translate_per_m,
                                 scale_per_m=scale_per_m).to(device=x.device, dtype=x.dtype)
        xc = x.permute(0, 3, 1, 2)
        grid = F.affine_grid(mats, list(xc.shape), align_corners=False)
        out = F.grid_sample(xc, grid, mode="bilinear", padding_mode=padding, align_corners=False)
        out = out.permute(0, 2, 3, 1)
    std = (_op(draws, ops, "noise") * noise_per_m).to(device=x.device, dtype=x.dtype)
    out = out + std.view(-1, 1, 1, 1) * noise.to(device=x.device, dtype=x.dtype)
    if clamp is not None:
        out = out.clamp(clamp[0], clamp[1])
    return out.contiguous()


class Augmenter:
    """:func:`magnitude_augment` with the settings of an :class:`AugmentSettings` and its own CPU generator (whose
    state resumes runs exactly)."""

    def __init__(self, settings: AugmentSettings, seed: int | None = None) -> None:
        self.settings = settings
        start = seed if seed is not None else int(torch.initial_seed()) % (2**63)
        self.generator = torch.Generator().manual_seed(start)

    def __call__(self, x: Tensor, magnitude: float) -> Tensor:
        s = self.settings
        clamp = None if s.clamp is None else (float(s.clamp[0]), float(s.clamp[1]))
        return magnitude_augment(x, float(magnitude), generator=self.generator, num_ops=s.num_ops, ops=tuple(s.ops),
                                 magnitude_std=s.magnitude_std, rotate_deg_per_m=s.rotate_deg_per_m,
                                 translate_per_m=s.translate_per_m, scale_per_m=s.scale_per_m,
                                 noise_per_m=s.noise_per_m, padding=s.padding, clamp=clamp)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def _settings(cfg: MagnitudeAugmentConfig) -> AugmentSettings:
    return AugmentSettings.model_validate({k: getattr(cfg, k) for k in AugmentSettings.model_fields})


class MagnitudeAugment(Callback):
    """``magnitude_augment`` of every training batch's images at one fixed magnitude (evaluation is untouched): the
    baseline recipe's augmentation (m = 9 throughout), over any learning rule."""

    Config = MagnitudeAugmentConfig
    config: MagnitudeAugmentConfig
    conformance_configs = ({}, {"magnitude": 0.0, "magnitude_std": 0.0, "num_ops": 1, "ops": ["noise"]})
    conformance_experiment = {"data": {"name": "blobs", "image_size": 8, "n_samples": 200, "clusters_per_class": 2},
                              "model": {"name": "efficienttrain_cnn", "widths": [4, 8], "strides": [1, 2]},
                              "trainer": {"epochs": 2, "batch_size": 32}}

    def __init__(self, config: MagnitudeAugmentConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.augment = Augmenter(_settings(self.config), self.config.seed)

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        key = self.config.image_key
        if key not in batch:
            raise KeyError(f"magnitude_augment: the batch has no key {key!r} (image_key); keys: {sorted(batch)}")
        return {**batch, key: self.augment(batch[key], self.config.magnitude)}

    def state_dict(self) -> dict[str, Any]:
        return self.augment.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.augment.load_state_dict(state)

