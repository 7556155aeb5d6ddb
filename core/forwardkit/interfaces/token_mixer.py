"""TokenMixer: mixes information across positions.

Contract (docs/concepts.md): an ``nn.Module`` whose input and output are channels-last tokens
``(B, *spatial, C)`` with ``spatial = (N,)`` for sequences, ``(H, W)`` for images, ``(T, H, W)`` for
video; output shape equals input shape. A mixer declares the spatial ranks it supports (``ranks``) and
whether it is causal over the flattened token order (``causal``; may depend on the config). Its
Config subclasses :class:`forwardkit.config.TokenMixerConfig`, whose ``dim`` is C.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.config import TokenMixerConfig
from forwardkit.interfaces.base import Component


class TokenMixer(Component, nn.Module):
    """Base class of token mixers. Subclasses implement ``forward(x: (B, *spatial, C)) -> same``."""

    Config: ClassVar[type[TokenMixerConfig]] = TokenMixerConfig
    #: spatial ranks this mixer accepts (1: sequences, 2: images, 3: video)
    ranks: ClassVar[frozenset[int]] = frozenset({1, 2, 3})
    #: True when output position i depends only on inputs at positions <= i (flattened order)
    causal: bool = False

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

    def supports(self, spatial: tuple[int, ...]) -> bool:
        """Whether this instance accepts tokens with this spatial shape (default: by rank)."""
        return len(spatial) in self.ranks

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError
