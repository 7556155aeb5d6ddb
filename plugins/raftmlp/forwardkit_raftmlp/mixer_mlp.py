"""MLP-Mixer token mixing (Tolstikhin et al. 2021, eq. 1), RaftMLP's ``org-mixer`` baseline."""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit_raftmlp.config import MixerTokenMLPConfig


def token_mlp(x: Tensor, fc1: nn.Linear, fc2: nn.Linear, dropout: float = 0.0, training: bool = False) -> Tensor:
    """Eq. 1 of MLP-Mixer on ``(B, N, C)``: per channel, ``W2 GELU(W1 x_{:, c})`` over the N tokens."""
    v = x.transpose(1, 2)  # (B, C, N)
    v = F.dropout(F.gelu(fc1(v)), dropout, training)
    v = F.dropout(fc2(v), dropout, training)
    return v.transpose(1, 2)


class MixerTokenMLP(TokenMixer):
    """Token MLP over all ``N = prod(spatial)`` tokens of ``(B, *spatial, C)``; sized by the holder's grid."""

    Config = MixerTokenMLPConfig
    config: MixerTokenMLPConfig
    ranks = frozenset({1, 2, 3})

    def __init__(self, config: MixerTokenMLPConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        n = self.config.num_tokens
        hid = max(1, round(self.config.expansion * n))
        self.fc1 = nn.Linear(n, hid)
        self.fc2 = nn.Linear(hid, n)

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {} if None in spatial else {"num_tokens": int(math.prod(spatial))}

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) in self.ranks and math.prod(spatial) == self.config.num_tokens

    def forward(self, x: Tensor) -> Tensor:
        """``(B, *spatial, C)`` -> same."""
        spatial = tuple(x.shape[1:-1])
        if math.prod(spatial) != self.config.num_tokens or x.shape[-1] != self.dim:
            raise ValueError(f"mixer_token_mlp was built for {self.config.num_tokens} tokens of {self.dim} "
                             f"channels, got {tuple(x.shape)}")
        b = x.shape[0]
        y = token_mlp(x.reshape(b, -1, self.dim), self.fc1, self.fc2, self.config.dropout, self.training)
        return y.reshape(x.shape)
