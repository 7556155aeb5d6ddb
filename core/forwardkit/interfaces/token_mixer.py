"""TokenMixer: mixes information across positions.

Contract (docs/concepts.md): an ``nn.Module`` whose input and output are channels-last tokens
``(B, *spatial, C)`` with ``spatial = (N,)`` for sequences, ``(H, W)`` for images, ``(T, H, W)`` for
video; output shape equals input shape. A mixer declares the spatial ranks it supports (``ranks``),
which shapes an instance accepts (``supports(spatial)``), whether it is causal over the flattened token
order (``causal``; may follow the config), and which config fields follow from the grid it will get
(``fields_for_input(spatial)``). Its Config subclasses :class:`forwardkit.config.TokenMixerConfig`,
whose ``dim`` is C.
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
    #: the formats the conformance kit's ``check_export`` checks: ``"torch"`` (``torch.export``, always),
    #: ``"onnx"`` (also converted to ONNX and run by onnxruntime)
    export_formats: ClassVar[tuple[str, ...]] = ("torch",)
    #: True when output position i depends only on inputs at positions <= i (flattened order). An
    #: instance attribute when it follows the config: ``self.causal = self.config.causal`` in ``__init__``.
    causal: bool = False

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        nn.Module.__init__(self)
        self._init_config(config, overrides)

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        """Config fields that follow from the token grid the mixer will get, before it is built.

        ``spatial`` is the grid of the ``(B, *spatial, C)`` tokens, ``(N,)``, ``(H, W)`` or ``(T, H, W)``,
        with ``None`` for each axis the holder does not know (its rank is always known). Return e.g.
        ``{"spatial_rank": len(spatial)}`` (a convolution with one kernel axis per spatial axis) or
        ``{"num_tokens": H * W}`` (a token MLP of fixed size) when the sizes are known. A holder (the
        builtin ``metaformer``, ``forwardkit bench``, the conformance kit) calls it through
        :meth:`forwardkit.config.ComponentSpec.build_for_input` (or :func:`forwardkit.config.input_fields`
        for a class) and fills the fields the spec does not set. Default: none."""
        return {}

    @property
    def dim(self) -> int:
        return int(self.config.dim)

    def supports(self, spatial: tuple[int, ...]) -> bool:
        """Whether this instance accepts tokens with this (concrete) spatial shape; default: by rank.

        The builtin ``metaformer`` asks it at build time about the grid of every stage (a refusal is a
        :class:`~forwardkit.errors.ConfigError` naming the stage), ``forwardkit bench`` and the conformance
        kit skip the shapes it refuses. ``forward`` should raise a clear ``ValueError`` for them."""
        return len(spatial) in self.ranks

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError
