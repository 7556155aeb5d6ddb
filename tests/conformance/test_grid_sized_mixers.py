"""A mixer sized by its token grid (fields_for_input) is built for each drawn grid and passes the kit."""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field
from torch import nn

from forwardkit.config import TokenMixerConfig
from forwardkit.interfaces import TokenMixer
from forwardkit.testing import check_component


class GridMixerConfig(TokenMixerConfig):
    num_tokens: int = Field(4, ge=1, description="the token count N the mixing matrix is sized for")


class GridMixer(TokenMixer):
    """An MLP-Mixer-style token MLP: a learned (N, N) matrix over the flattened tokens."""

    Config = GridMixerConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.mix = nn.Linear(self.config.num_tokens, self.config.num_tokens)

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {"num_tokens": math.prod(spatial)} if all(s is not None for s in spatial) else {}

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) in self.ranks and math.prod(spatial) == self.config.num_tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        tokens = x.reshape(shape[0], -1, shape[-1])  # (B, N, C)
        return self.mix(tokens.transpose(1, 2)).transpose(1, 2).reshape(shape)


def test_a_grid_sized_mixer_is_built_for_every_drawn_grid():
    report = check_component(GridMixer)
    assert report.ok, report
    assert report.counts["passed"] >= 8, report
