"""Resolution adapter: fixed-grid token MLPs run at a new grid by bicubic resize in and out (paper sec. 3.4)."""

from __future__ import annotations

import copy
import math
from typing import Any

from torch import Tensor, nn

from forwardkit.interfaces import Adapter
from forwardkit_raftmlp.config import BicubicGridAdapterConfig
from forwardkit_raftmlp.mixer_mlp import MixerTokenMLP
from forwardkit_raftmlp.raft import RaftMixing, resize_grid


class GridResized(nn.Module):
    """Wraps a ``(B, H0, W0, C)`` token mixer: ``(B, H, W, C)`` -> resize to (H0, W0) -> mixer -> back."""

    def __init__(self, mixer: nn.Module, grid: tuple[int, int]) -> None:
        super().__init__()
        self.mixer, self.grid = mixer, tuple(grid)

    def forward(self, x: Tensor) -> Tensor:
        hw = (int(x.shape[1]), int(x.shape[2]))
        if hw == self.grid:
            return self.mixer(x)
        return resize_grid(self.mixer(resize_grid(x, self.grid)), hw)


class BicubicGridAdapter(Adapter):
    """Returns a copy of the model whose ``mixer_token_mlp`` / ``raft_mixing`` mixers accept any rank-2 grid."""

    Config = BicubicGridAdapterConfig
    config: BicubicGridAdapterConfig
    inplace = False

    def __init__(self, config: BicubicGridAdapterConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)

    def _grid(self, m: MixerTokenMLP) -> tuple[int, int]:
        if self.config.mixer_grid is not None:
            return tuple(self.config.mixer_grid)
        s = math.isqrt(m.config.num_tokens)
        if s * s != m.config.num_tokens:
            raise ValueError(f"mixer_grid: num_tokens {m.config.num_tokens} is not a square; set mixer_grid")
        return (s, s)

    def apply(self, model: nn.Module) -> nn.Module:
        out = copy.deepcopy(model)
        for parent in list(out.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, MixerTokenMLP):
                    setattr(parent, name, GridResized(child, self._grid(child)))
                elif isinstance(child, RaftMixing):
                    setattr(parent, name, GridResized(child, tuple(child.config.grid)))
        return out
