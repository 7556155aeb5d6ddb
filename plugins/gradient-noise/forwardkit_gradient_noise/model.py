"""``deep_relu_mlp``: the deep plain ReLU MLP of the paper's MNIST experiment (Sec. 4.1) and its inits."""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_gradient_noise.config import DeepReLUMLPConfig


def sussillo_abbott_gain(fan_in: int) -> float:
    """Random-walk initialisation gain for ReLU layers (Sussillo & Abbott 2014, arXiv 1412.6558):
    ``g = sqrt(2) * exp(1.2 / (max(N, 6) - 2.4))`` with ``N`` the fan-in; weights are ``N(0, g^2 / N)``."""
    return math.sqrt(2.0) * math.exp(1.2 / (max(fan_in, 6) - 2.4))


@torch.no_grad()
def init_linear_(layer: nn.Linear, init: str, *, init_std: float = 0.1,
                 generator: torch.Generator | None = None) -> nn.Linear:
    """Initialise one ``Linear`` (weight ``(out, in)``) in place with the paper's schemes (Sec. 4.1):

    - ``simple``: ``W ~ N(0, init_std^2)`` (paper: 0.1);
    - ``he``: ``W ~ N(0, 2 / fan_in)`` (He et al. 2015);
    - ``sussillo_abbott``: ``W ~ N(0, g^2 / fan_in)``, ``g`` from :func:`sussillo_abbott_gain`;
    - ``zero``: ``W = 0`` (the paper's "Bad Init").

    Biases are 0 in every scheme (the paper does not say; our choice).
    """
    fan_in = layer.in_features
    if init == "zero":
        layer.weight.zero_()
    else:
        std = {"simple": init_std, "he": math.sqrt(2.0 / fan_in),
               "sussillo_abbott": sussillo_abbott_gain(fan_in) / math.sqrt(fan_in)}.get(init)
        if std is None:
            raise ValueError(f"unknown init {init!r} (simple, he, sussillo_abbott, zero)")
        layer.weight.normal_(0.0, std, generator=generator)
    if layer.bias is not None:
        layer.bias.zero_()
    return layer


def init_deep_relu_mlp_(model: nn.Module, init: str, *, init_std: float = 0.1,
                        generator: torch.Generator | None = None) -> nn.Module:
    """Apply :func:`init_linear_` to every ``nn.Linear`` of ``model`` (hidden and output layers alike)."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            init_linear_(module, init, init_std=init_std, generator=generator)
    return model


class DeepReLUMLP(Model):
    """``depth`` hidden layers ``h_l = relu(W_l h_{l-1} + b_l)`` of ``width`` units and a linear output
    (softmax in the loss), paper Sec. 4.1 (20 x 50 on MNIST). ``(B, *input_shape)`` is flattened to
    ``(B, in_features)``; returns logits ``(B, num_classes)``. No normalisation, no residuals, no dropout."""

    Config = DeepReLUMLPConfig
    config: DeepReLUMLPConfig

    def __init__(self, config: DeepReLUMLPConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        widths = [cfg.in_features] + [cfg.width] * cfg.depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.out = nn.Linear(cfg.width, cfg.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every layer with ``config.init`` (draws from torch's global generator)."""
        init_deep_relu_mlp_(self, self.config.init, init_std=self.config.init_std)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(B, *input_shape)`` with ``prod(input_shape) == in_features``; returns ``(B, num_classes)``."""
        x = x.flatten(1) if x.dim() > 1 else x.unsqueeze(1)
        if x.shape[1] != self.config.in_features:
            raise ValueError(f"deep_relu_mlp expects {self.config.in_features} features per sample, got "
                             f"{x.shape[1]} (set in_features to the product of the input shape)")
        h = x if x.is_floating_point() else x.float()
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.out(h)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Random ``(B, in_features)`` inputs in [0, 1) and integer labels ``(B,)``."""
        x = torch.rand(batch_size, self.config.in_features, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
