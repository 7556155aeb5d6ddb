"""KAN and S-KAN feed-forward channel mixers on channels-last tokens ``(B, *spatial, C)``."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from forwardkit.interfaces import ChannelMixer
from forwardkit_s_kan.config import KANFFNConfig, SKANFFNConfig
from forwardkit_s_kan.layers import KANLayer, SKANLayer


def space_kwargs(config: Any) -> dict[str, Any]:
    """The per-space hyper-parameters of a config (grid size, order, degree, centres, terms, wavelet)."""
    return {k: getattr(config, k) for k in ("grid_size", "spline_order", "degree", "num_centers",
                                            "fourier_terms", "wavelet")}


def hidden_width(dim: int, ratio: float) -> int:
    """h = max(1, round(ratio * dim))."""
    return max(1, round(ratio * dim))


class KANFFN(ChannelMixer):
    """Single-space KAN feed-forward ``(B, *spatial, C) -> (B, *spatial, C)``: ``KAN_2(KAN_1(x))`` with
    ``KAN_1: C -> h`` and ``KAN_2: h -> C`` of one activation space, applied to every token on its own."""

    Config = KANFFNConfig
    config: KANFFNConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        h = hidden_width(c.dim, c.hidden_ratio)
        self.layer1: nn.Module = KANLayer(c.space, c.dim, h, **space_kwargs(c))
        self.layer2: nn.Module = KANLayer(c.space, h, c.dim, **space_kwargs(c))

    def forward(self, x: Tensor) -> Tensor:
        return self.layer2(self.layer1(x))


class SKANFFN(ChannelMixer):
    """S-KAN feed-forward ``(B, *spatial, C) -> (B, *spatial, C)``: two :class:`SKANLayer` (C -> h -> C), each
    node mixing the pool's spaces with learned selection weights (reconstruction of S-KAN sec. 3). After
    :func:`forwardkit_s_kan.prune.prune_skan` the layers are :class:`PrunedSKANLayer`."""

    Config = SKANFFNConfig
    config: SKANFFNConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        h = hidden_width(c.dim, c.hidden_ratio)
        kw = dict(pool=c.pool, weight_norm=c.weight_norm, temperature=c.temperature, **space_kwargs(c))
        self.layer1: nn.Module = SKANLayer(c.dim, h, **kw)
        self.layer2: nn.Module = SKANLayer(h, c.dim, **kw)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer2(self.layer1(x))
