"""ChannelMixer: transforms each token's channels (MLP, MoE, KAN, ...).

Contract (docs/concepts.md): an ``nn.Module`` on ``(B, *spatial, C)`` returning the same shape. By default a
channel mixer is *pointwise* (each token transformed on its own, which the conformance kit checks);
one that also looks at neighbours (a depthwise conv inside the FFN) sets ``pointwise = False`` and must
accept the spatial layout it needs; like a token mixer it may declare ``supports(spatial)`` and
``fields_for_input(spatial)``.
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
    #: the formats the conformance kit's ``check_export`` checks: ``"torch"`` (``torch.export``, always),
    #: ``"onnx"`` (also converted to ONNX and run by onnxruntime)
    export_formats: ClassVar[tuple[str, ...]] = ("torch",)
    #: True when each token is transformed independently of every other token
    pointwise: ClassVar[bool] = True

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        nn.Module.__init__(self)
        self._init_config(config, overrides)

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        """Config fields that follow from the token grid ``spatial`` (``None`` per unknown axis) the mixer
        will get, e.g. the kernel axes of a depthwise convolution; see
        :meth:`forwardkit.interfaces.TokenMixer.fields_for_input`. Default: none."""
        return {}

    @property
    def dim(self) -> int:
        return int(self.config.dim)

    def supports(self, spatial: tuple[int, ...]) -> bool:
        """Whether this instance accepts tokens with this (concrete) spatial shape; default: by rank."""
        return len(spatial) in self.ranks

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError
