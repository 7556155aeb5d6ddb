"""Configs of the gradient-noise components (torch-free: discovery and validation import this module)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from forwardkit.config import ComponentConfig

Init = Literal["simple", "he", "sussillo_abbott", "zero"]


class AnnealedGradientNoiseConfig(ComponentConfig):
    """Annealed Gaussian gradient noise (paper Sec. 3): ``g_t <- g_t + N(0, sigma_t^2 I)`` with
    ``sigma_t^2 = eta / (1 + t)^gamma`` (the *variance* follows the schedule), added after clipping."""

    eta: float = Field(0.01, ge=0.0, description="noise variance at t = 0 (paper: 0.01, 0.3 or 1.0)")
    gamma: float = Field(0.55, ge=0.0, description="annealing exponent of the variance (paper: 0.55)")
    schedule: Literal["annealed", "constant"] = Field(
        "annealed", description="'annealed': variance eta / (1 + t)^gamma; 'constant': fixed standard deviation std"
    )
    std: float = Field(0.001, ge=0.0, description="standard deviation of the noise in 'constant' mode only")
    t0: int = Field(0, ge=0, description="step counter value at the first update (t = t0, t0 + 1, ...)")
    count_by: Literal["optimizer_step", "batch"] = Field(
        "optimizer_step",
        description="'optimizer_step': t counts gradient updates (after_backward events, once per step even "
        "with accumulation); 'batch': t is the trainer's global batch counter",
    )
    param_filter: Literal["all", "weights_only"] = Field(
        "all", description="'all': every trainable parameter; 'weights_only': parameters with ndim >= 2"
    )
    seed: int | None = Field(
        None, ge=0, description="seed of the callback's own torch.Generator; None: derived from the run's seed"
    )
    order: Literal["after_clip", "before_clip"] = Field(
        "after_clip",
        description="'after_clip' (paper): noise is added to the clipped gradient; 'before_clip': noise first, "
        "then this callback's clip_norm (needs the learning rule's grad_clip_norm off)",
    )
    clip_norm: float | None = Field(
        None, gt=0.0,
        description="global-norm clipping done by this callback (in the order given by 'order'); None: none "
        "(the learning rule's grad_clip_norm, applied before every callback, still acts)",
    )


class DeepReLUMLPConfig(ComponentConfig):
    """Deep plain ReLU MLP of the paper's MNIST experiment (Sec. 4.1): ``depth`` hidden layers of
    ``width`` ReLU units and a linear softmax output, ``(B, *input_shape) -> (B, num_classes)``."""

    depth: int = Field(20, ge=1, description="number of hidden layers (paper: 20)")
    width: int = Field(50, ge=1, description="units per hidden layer (paper: 50)")
    in_features: int = Field(784, ge=1, description="product of the per-sample input shape (filled from the data)")
    num_classes: int = Field(10, ge=1, description="outputs (logits of the softmax)")
    init: Init = Field(
        "simple",
        description="'simple': W ~ N(0, init_std^2); 'he': N(0, 2/fan_in); 'sussillo_abbott': N(0, g^2/fan_in) "
        "with the ReLU random-walk g; 'zero': every weight and bias 0 (the paper's 'Bad Init')",
    )
    init_std: float = Field(0.1, gt=0.0, description="standard deviation of the weights for init='simple'")
