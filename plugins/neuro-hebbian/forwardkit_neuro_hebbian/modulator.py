"""The neuro-modulator (paper Sec. 3.2, Fig. 2 step 2): a light layer after the early (Hebbian) layer.

It gives the early features top-down feedback: at test time its parameters are the only ones tuned by
back-propagating the prediction-entropy loss from the frozen top layers. The adapter ``neuro_modulator``
inserts it (:func:`apply_neuro_modulator`) by wrapping a module of the model in :class:`Modulated`, whose
output is ``modulator(module(x))``. What it is and where it sits are the card's guesses (the method
section was not readable): a per-channel affine (default), a batch-norm layer, or a 1x1 convolution,
initialised to the identity, after the first normalisation layer that follows the early layer (a
per-channel affine right after a convolution would be undone by the batch norm that follows it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Adapter
from forwardkit_neuro_hebbian.config import NeuroModulatorConfig

__all__ = ["Modulated", "NeuroModulator", "NeuroModulatorAdapter", "apply_neuro_modulator", "early_layer",
           "is_norm", "modulators"]

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def is_norm(module: nn.Module) -> bool:
    """Normalisation layers: torch's batch/instance/layer/group norms and any ``*Norm`` module."""
    return isinstance(module, _NORMS) or type(module).__name__.endswith("Norm")


class NeuroModulator(nn.Module):
    """The modulator on features with ``channels`` channels on axis ``channel_dim`` (1: ``(B, C, H, W)``
    maps; -1: ``(..., C)`` tokens); same shape in and out.

    * ``affine``: ``m(h) = gamma * h + beta`` per channel (``gamma = 1, beta = 0`` at identity init);
    * ``bn_affine``: a batch norm over the channel axis (normalise, then ``gamma``, ``beta``);
    * ``conv1x1``: ``m(h) = M h + b`` mixing the channels (``M = I, b = 0`` at identity init).
    """

    def __init__(self, channels: int, kind: str = "affine", init: str = "identity", channel_dim: int = 1) -> None:
        super().__init__()
        self.kind, self.channel_dim, self.channels = kind, channel_dim, channels
        if kind == "affine":
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
            if init == "default":
                nn.init.normal_(self.weight, 1.0, 0.02)
        elif kind == "bn_affine":
            self.norm = nn.BatchNorm1d(channels)
        elif kind == "conv1x1":
            self.mix = nn.Linear(channels, channels)
            if init == "identity":
                with torch.no_grad():
                    self.mix.weight.copy_(torch.eye(channels))
                    self.mix.bias.zero_()
        else:
            raise ValueError(f"unknown modulator kind {kind!r}; choose affine, bn_affine or conv1x1")

    def forward(self, h: Tensor) -> Tensor:
        last = h.movedim(self.channel_dim, -1) if self.channel_dim != -1 else h   # (..., C)
        if self.kind == "affine":
            out = last * self.weight + self.bias
        elif self.kind == "bn_affine":
            out = self.norm(last.reshape(-1, self.channels)).reshape(last.shape)
        else:
            out = self.mix(last)
        return out.movedim(-1, self.channel_dim) if self.channel_dim != -1 else out


class Modulated(nn.Module):
    """``modulator(inner(x))``: a module of the model followed by its neuro-modulator."""

    def __init__(self, inner: nn.Module, modulator: NeuroModulator) -> None:
        super().__init__()
        self.inner = inner
        self.modulator = modulator

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.modulator(self.inner(*args, **kwargs))


def modulators(model: nn.Module) -> list[NeuroModulator]:
    """Every neuro-modulator of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, NeuroModulator)]


def early_layer(model: nn.Module, path: str | None = None) -> tuple[str, nn.Module]:
    """``(path, module)`` of the early layer: ``path`` if given, else the first ``Conv2d`` or ``Linear`` of the
    model in module order that is not part of a neuro-modulator."""
    if path is not None:
        try:
            return path, model.get_submodule(path)
        except AttributeError as exc:
            raise ForwardkitError(f"the model has no module {path!r}") from exc
    inside: set[int] = {id(p) for m in modulators(model) for p in m.modules()}
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear) and id(module) not in inside:
            return name, module
    raise ForwardkitError("the model has no Conv2d or Linear layer to treat as its early layer")


def _channels(module: nn.Module) -> tuple[int, int]:
    """``(channels, channel_dim)`` of the output of a layer or normalisation module."""
    if isinstance(module, nn.Conv2d):
        return module.out_channels, 1
    if isinstance(module, nn.Linear):
        return module.out_features, -1
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return module.num_features, 1
    if isinstance(module, nn.GroupNorm):
        return module.num_channels, 1
    if isinstance(module, nn.LayerNorm):
        return int(module.normalized_shape[-1]), -1
    weight = getattr(module, "weight", None)
    if isinstance(weight, Tensor) and weight.dim() == 1:
        return int(weight.shape[0]), -1
    raise ForwardkitError(f"cannot tell the channels of a {type(module).__name__} to modulate")


def _target(model: nn.Module, config: NeuroModulatorConfig) -> str:
    layer_path, layer = early_layer(model, config.layer)
    if config.position == "after_layer":
        return layer_path
    seen = False
    for name, module in model.named_modules():
        if module is layer:
            seen = True
        elif seen and is_norm(module) and not isinstance(module, NeuroModulator):
            return name
    return layer_path


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, new)


def apply_neuro_modulator(model: nn.Module, config: NeuroModulatorConfig | None = None, **overrides: Any) -> nn.Module:
    """Insert a :class:`NeuroModulator` after the early layer of ``model`` (in place; returns ``model``).

    The target module (the early layer, or the normalisation layer that follows it) is wrapped in
    :class:`Modulated`; its parameters keep their values (their state-dict keys gain ``.inner``).
    """
    cfg = NeuroModulatorConfig.model_validate({**(config.model_dump() if config else {}), **overrides})
    if modulators(model):
        raise ForwardkitError("the model already has a neuro-modulator")
    path = _target(model, cfg)
    if not path:
        raise ForwardkitError("the early layer is the model itself; wrap the model instead")
    target = model.get_submodule(path)
    if isinstance(target, Modulated):
        raise ForwardkitError(f"{path!r} already has a neuro-modulator")
    channels, dim = _channels(target)
    reference = next(iter(target.parameters()), None)
    modulator = NeuroModulator(channels, cfg.form, cfg.init, dim)
    if reference is not None:
        modulator.to(device=reference.device, dtype=reference.dtype)
    _replace(model, path, Modulated(target, modulator))
    return model


class NeuroModulatorAdapter(Adapter):
    """Adapter ``neuro_modulator``: inserts the neuro-modulator after the model's early layer (in place)."""

    Config = NeuroModulatorConfig
    config: NeuroModulatorConfig
    inplace = True

    def apply(self, model: nn.Module) -> nn.Module:
        return apply_neuro_modulator(model, self.config)
