"""ChannelMixer: transforms each token's channels (MLP, MoE, KAN, ...).

Contract (docs/concepts.md): an ``nn.Module`` on ``(B, *spatial, C)`` returning the same shape. By default a
channel mixer is *pointwise* (each token transformed on its own, which the conformance kit checks);
one that also looks at neighbours (a depthwise conv inside the FFN) sets ``pointwise = False`` and must
accept the spatial layout it needs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.config import ChannelMixerConfig
from forwardkit.interfaces.base import Component


class ChannelMixer(Component, nn.Module):
    """Base class of channel mixers. Subclasses implement ``forward(x: (B, *spatial, C)) -> same``."""

    Config: ClassVar[type[ChannelMixerConfig]] = ChannelMixerConfig
    ranks: ClassVar[frozenset[int]] = frozenset({1, 2, 3})
    #: True when each token is transformed independently of every other token
    pointwise: ClassVar[bool] = True

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        nn.Module.__init__(self)
        self._init_config(config, overrides)

    @classmethod
    def fields_for_rank(cls, rank: int) -> dict[str, Any]:
        """Config fields that depend on the spatial rank of the tokens (e.g. the number of axes of a
        depthwise convolution); a holder that knows the rank (the builtin ``metaformer``, ``bench``) fills
        them unless the config sets them. Default: none."""
        return {}

    @property
    def dim(self) -> int:
        return int(self.config.dim)

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError
