"""Registration of the gradient-noise components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

_PKG = "forwardkit_gradient_noise"

PAPER = Paper(
    title="Adding Gradient Noise Improves Learning for Very Deep Networks",
    arxiv="1511.06807",
    url="https://arxiv.org/abs/1511.06807",
    year=2015,
)


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    registry.add(
        "callback",
        "annealed_gradient_noise",
        target=f"{_PKG}.callback:AnnealedGradientNoise",
        config=f"{_PKG}.config:AnnealedGradientNoiseConfig",
        summary="adds N(0, eta/(1+t)^gamma) to every gradient after clipping, before each optimizer step",
        paper=PAPER,
        functional=f"{_PKG}.noise:gradient_noise_",
    )
    registry.add(
        "model",
        "deep_relu_mlp",
        target=f"{_PKG}.model:DeepReLUMLP",
        config=f"{_PKG}.config:DeepReLUMLPConfig",
        summary="deep plain ReLU MLP (20 x 50 in the paper) with simple / He / Sussillo-Abbott / zero init",
        paper=PAPER,
        functional=f"{_PKG}.model:init_deep_relu_mlp_",
    )
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
