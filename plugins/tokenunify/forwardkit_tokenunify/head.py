"""The next-token head (the official ``Preciever`` of ``segmamba_ar.py``) and the adapter that attaches it.

The head reads the network's pre-sigmoid dense output ``(B, *spatial, C)``, applies ``num_convs`` 3x3(x3)
convolutions of stride 2 (``C -> 12 -> 12 -> 1`` channels, ReLU between), flattens, maps with one Linear to the
``prod(patch)`` voxels of one token and applies a sigmoid: ``(B, *patch, 1)``. Official 3-D sizes: (16, 160, 160)
-> (2, 20, 20) = 800 -> Linear -> 1024 = 4 x 16 x 16. It is not told k: it must find the prefix boundary itself.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Adapter
from forwardkit_tokenunify.config import NextTokenHeadAdapterConfig, NextTokenHeadConfig

ATTR = "next_token_head"


def _conv(rank: int) -> type[nn.Module]:
    return {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[rank]


def strided_size(n: int, convs: int) -> int:
    """Side after ``convs`` convolutions of kernel 3, stride 2, padding 1: ceil(n / 2) each time."""
    for _ in range(convs):
        n = (n + 1) // 2
    return n


class NextTokenHead(nn.Module):
    """Dense output ``(B, *input_size, C)`` -> the predicted next token ``(B, *patch, 1)`` in [0, 1]."""

    def __init__(self, config: NextTokenHeadConfig) -> None:
        super().__init__()
        cfg = self.config = config
        if cfg.input_size is None:
            raise ValueError("NextTokenHead needs input_size (the spatial size of the dense output)")
        if len(cfg.input_size) != len(cfg.patch):
            raise ValueError(f"input_size {cfg.input_size} and patch {cfg.patch} must have the same number of axes")
        conv = _conv(len(cfg.patch))
        layers: list[nn.Module] = []
        chans = [cfg.in_channels] + [cfg.hidden_channels] * (cfg.num_convs - 1) + [1]
        for i in range(cfg.num_convs):
            layers.append(conv(chans[i], chans[i + 1], kernel_size=3, stride=2, padding=1))
            if i < cfg.num_convs - 1:
                layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)
        flat = math.prod(strided_size(s, cfg.num_convs) for s in cfg.input_size)
        self.linear = nn.Linear(flat, math.prod(cfg.patch))

    def forward(self, dense: Tensor) -> Tensor:
        """``dense`` ``(B, *spatial, C)`` (channels-last; ``(B, C, *spatial)`` with ``channels_last=False``)."""
        h = dense.movedim(-1, 1) if self.config.channels_last else dense
        h = self.convs(h).flatten(1)
        return torch.sigmoid(self.linear(h)).reshape(dense.shape[0], *self.config.patch, 1)


def build_next_token_head(model: nn.Module, config: NextTokenHeadConfig | None = None, **overrides: Any,
                          ) -> NextTokenHead:
    """A :class:`NextTokenHead` for ``model``'s dense output, on the model's device; the input size comes from the
    config, else from ``model.example_batch()``."""
    cfg = (config or NextTokenHeadConfig()).model_copy(update=overrides)
    if cfg.input_size is None:
        example = getattr(model, "example_batch", None)
        if example is None:
            raise ValueError("next_token_head: set input_size, or use a model with example_batch()")
        x = example(1)[getattr(model, "input_key", "x")]
        cfg = cfg.model_copy(update={"input_size": tuple(x.shape[1:-1]), "in_channels": int(x.shape[-1])})
    head = NextTokenHead(cfg)
    param = next(iter(model.parameters()), None)
    if param is not None:
        head.to(param.device)
    return head


def attach_next_token_head(model: nn.Module, config: NextTokenHeadConfig | None = None, **overrides: Any,
                           ) -> NextTokenHead:
    """Attach a :class:`NextTokenHead` to ``model`` as ``model.next_token_head`` (in place) and return it (see
    :func:`build_next_token_head`). A head already there is kept."""
    existing = getattr(model, ATTR, None)
    if isinstance(existing, NextTokenHead):
        return existing
    head = build_next_token_head(model, config, **overrides)
    setattr(model, ATTR, head)
    return head


class NextTokenHeadAdapter(Adapter):
    """Adapter ``next_token_head``: attaches the head in place; the model's forward is unchanged. The
    ``mixture_token_prediction`` rule then trains this head with the model (its weights are the model's), instead
    of a head of its own (whose weights live in the rule's state)."""

    Config = NextTokenHeadAdapterConfig
    inplace = True
    conformance_models = ({"name": "tokenunify_unet", "widths": [4, 8], "input_size": [8, 8],
                           "bottleneck_mixer": None},)

    def apply(self, model: nn.Module) -> nn.Module:
        base = NextTokenHeadConfig.model_validate(self.config.model_dump())
        attach_next_token_head(model, base)
        return model
