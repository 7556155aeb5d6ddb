"""combiner-ar-tiny: an autoregressive Transformer over integer token grids (card "Components"; paper §5.1.1's
image density models at miniature scale).

Teacher forcing in raster (row-major) order: the input at position t is the embedding of token t - 1
(a learned start embedding at t = 0) plus a learned position embedding; ``depth`` pre-LN MetaFormer blocks
(causal token mixer, MLP of ratio 4); a final LayerNorm; a linear head to the V logits of token t. The
tokens keep their grid ``(B, *grid, C)`` inside, so a mixer sees rows and columns (rank 2 for images) and
its causality over the flattened order is the raster order.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.config import ComponentSpec
from forwardkit.errors import ConfigError, ConfigIssue
from forwardkit.interfaces import Model
from forwardkit.nn import FeedForward, MetaFormerBlock, check_supports, init_weights
from forwardkit_combiner.config import CombinerARConfig

__all__ = ["CombinerAR", "shift_right"]


def shift_right(tokens: Tensor, start: int) -> Tensor:
    """``(B, L)`` int tokens -> the teacher-forcing inputs ``[start, x_0, ..., x_{L-2}]``."""
    return torch.cat([torch.full_like(tokens[:, :1], start), tokens[:, :-1]], dim=1)


def build_mixer(spec: ComponentSpec, *, dim: int, num_heads: int, grid: tuple[int, ...]) -> nn.Module:
    """The token mixer of ``spec`` for ``(B, *grid, dim)`` tokens: ``num_heads`` (and, for mixers with a
    ``head_dim``, ``dim / num_heads``) unless the spec sets them; it must be causal and accept the grid."""
    fields = type(spec.config).model_fields
    context: dict[str, Any] = {"dim": dim}
    for key, value in (("num_heads", num_heads), ("head_dim", dim // num_heads)):
        if key in fields and key not in spec.config.model_fields_set:
            context[key] = value
    mixer = spec.build_for_input(grid, **context)
    if not bool(getattr(mixer, "causal", False)):
        raise ConfigError([ConfigIssue("token_mixer", f"{spec.name!r} is not causal: set causal: true")])
    check_supports(mixer, grid, f"token_mixer {spec.name!r}", loc="token_mixer")
    return mixer


class CombinerAR(Model):
    """``x (B, *grid)`` int64 tokens in ``[0, V)`` -> logits ``(B, *grid, V)`` of each token given the ones before
    it in raster order."""

    Config = CombinerARConfig
    config: CombinerARConfig
    #: one small config (each exported config costs the kit seconds); rank-1 grids are tested in test_model_data
    conformance_configs: ClassVar[list[dict[str, Any]]] = [{"grid": [4, 4], "dim": 16, "depth": 1}]

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"grid": [int(s) for s in metadata.input_shape]}
        levels = metadata.num_classes or metadata.extra.get("levels")
        if levels:
            out["vocab_size"] = int(levels)
        return out

    def __init__(self, config: CombinerARConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        self.grid = tuple(c.grid)
        length = math.prod(self.grid)
        self.embed = nn.Embedding(c.vocab_size + 1, c.dim)          # index V: the start token
        self.pos = nn.Parameter(torch.zeros(length, c.dim))
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            MetaFormerBlock(dim=c.dim, norm="layernorm", norm_eps=1e-5, drop_path=0.0,
                            token_mixer=build_mixer(c.token_mixer, dim=c.dim, num_heads=c.num_heads, grid=self.grid),
                            channel_mixer=FeedForward(dim=c.dim, mlp_ratio=c.mlp_ratio, drop=c.dropout))
            for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.vocab_size)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.grid:
            raise ValueError(f"combiner-ar-tiny was built for token grids {self.grid}, got {tuple(x.shape[1:])}")
        tokens = shift_right(x.reshape(x.shape[0], -1).long(), self.config.vocab_size)
        h = self.drop(self.embed(tokens) + self.pos)                  # (B, L, C)
        h = h.reshape(x.shape[0], *self.grid, -1)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))                                # (B, *grid, V)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        x = torch.randint(0, self.config.vocab_size, (batch_size, *self.grid), generator=generator)
        return {"x": x, "y": x.clone()}
