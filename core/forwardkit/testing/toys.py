"""Small models the kit applies adapters, compressors, analyzers, learning rules and callbacks to.

``ToyNet`` is a builtin-like channels-last image classifier with the layer types model surgery usually
targets (Conv2d, BatchNorm2d, LayerNorm, Linear, GELU, a residual branch). :func:`resolve_models` turns
the kit's model specs into fresh models:

* ``"toy"`` — :class:`ToyNet` (8x8x3 images, 4 classes);
* a registered model name (``"metaformer"``) or spec (``{"name": "metaformer", "dims": [8, 16], ...}``);
* a zero-argument callable returning a :class:`~forwardkit.interfaces.Model`.

A component chooses the models its checks use with a ClassVar ``conformance_models`` (a sequence of
such specs), e.g. an adapter that only knows MetaFormer blocks sets
``conformance_models = ({"name": "metaformer", "depths": [1, 1], "dims": [8, 16]},)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from forwardkit.config import ComponentConfig
from forwardkit.interfaces.model import Model

#: the models adapters, compressors and analyzers are checked on by default
DEFAULT_MODELS: tuple[Any, ...] = ("toy", {"name": "metaformer", "depths": [1, 1], "dims": [8, 16], "num_classes": 4})
#: the models learning rules and callbacks are checked on by default
DEFAULT_TRAINING_MODELS: tuple[Any, ...] = ("toy",)


class ToyNetConfig(ComponentConfig):
    in_channels: int = Field(3, ge=1)
    size: int = Field(8, ge=2, description="height and width of the example images")
    width: int = Field(8, ge=1)
    num_classes: int = Field(4, ge=1)


class ToyNet(Model):
    """``(B, H, W, C)`` channels-last images -> ``(B, num_classes)`` logits.

    conv3x3 -> BatchNorm2d -> GELU -> tokens; ``h + Linear(LayerNorm(h))``; mean pool; Linear head.
    """

    Config = ToyNetConfig
    config: ToyNetConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.conv = nn.Conv2d(cfg.in_channels, cfg.width, 3, padding=1)
        self.bn = nn.BatchNorm2d(cfg.width)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(cfg.width)
        self.fc = nn.Linear(cfg.width, cfg.width)
        self.head = nn.Linear(cfg.width, cfg.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.bn(self.conv(x.permute(0, 3, 1, 2)))).permute(0, 2, 3, 1)  # (B, H, W, width)
        h = h + self.fc(self.norm(h))
        return self.head(h.mean(dim=(1, 2)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        x = torch.randn(batch_size, cfg.size, cfg.size, cfg.in_channels, generator=generator)
        y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}


def model_label(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        rest = {k: v for k, v in spec.items() if k != "name"}
        return f"{spec.get('name')}{rest}" if rest else str(spec.get("name"))
    return getattr(spec, "__name__", repr(spec))


def build_model(spec: Any, *, registry: Any = None) -> nn.Module:
    """A fresh model from a kit model spec (``"toy"``, a registered name or spec, or a factory)."""
    if spec == "toy":
        return ToyNet()
    if callable(spec) and not isinstance(spec, str | Mapping):
        return spec()
    from forwardkit.compose import build_model as build_registered

    return build_registered(spec, registry=registry)


def resolve_models(
    component_cls: Any, models: Sequence[Any] | None, default: Sequence[Any]
) -> list[tuple[str, Callable[[], nn.Module]]]:
    """``(label, factory)`` for each model a check should use: ``models``, else the component's
    ``conformance_models``, else ``default``."""
    specs = models if models is not None else getattr(component_cls, "conformance_models", None)
    if callable(specs):
        specs = specs()
    specs = list(specs) if specs else list(default)
    return [(model_label(s), functools.partial(build_model, s)) for s in specs]


def default_loss(output: Any, batch: Mapping[str, Tensor]) -> Tensor:
    """Cross-entropy for integer targets, mean squared error otherwise (for checks only)."""
    out = output[0] if isinstance(output, tuple | list) else output
    y = batch.get("y")
    if y is None:
        return out.float().pow(2).mean()
    if not y.is_floating_point() and out.dim() == y.dim() + 1:
        return F.cross_entropy(out, y)
    return F.mse_loss(out, y.float().reshape(out.shape) if y.numel() == out.numel() else y.float())
