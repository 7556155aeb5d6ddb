"""Selective Channel Mixer (paper §3.2, eqs. 12-18): a bidirectional S6 whose sequence axis is the channels.

Two readings, two components (their kinds differ, so they are registered apart):

``selective_channel_mixer`` (channel mixer, pointwise; the default reading)
    each token's C channels on their own, as a length-C sequence of scalars: lifted to ``d_inner`` features
    (``Linear(1 -> 2 d_inner)``: the S6 branch and the gate), a forward and a backward causal conv + S6 along
    the channels, the SiLU-gated sum, ``Linear(d_inner -> 1)`` back to one value per channel. No parameter
    depends on C or on the tokens: it transforms each token on its own, as the ChannelMixer contract asks.

``selective_channel_mixer_paper`` (token mixer; the literal reading)
    the S6 block applied to ``x^T`` ``(B, C, L)``: the sequence is the C channels and the features are the L
    tokens, so ``Linear`` maps L -> 2E (E = expand L) and back: the weights are sized by the token count
    (fixed grid) and the mixer mixes across tokens as well as channels.
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import ChannelMixer, TokenMixer
from forwardkit_mambamixer.config import S6Fields, SelectiveChannelMixerConfig, SelectiveChannelMixerPaperConfig
from forwardkit_mambamixer.s6 import S6Branch
from forwardkit_mambamixer.variate_mixer import bidirectional

__all__ = ["SelectiveChannelMixer", "SelectiveChannelMixerPaper", "channel_s6_fields"]


def channel_s6_fields(config: SelectiveChannelMixerConfig) -> S6Fields:
    """The S6 fields of a per-token channel mixer's branches (width ``d_inner``, no further expansion)."""
    return S6Fields(d_state=config.d_state, d_conv=config.d_conv, expand=1, dt_min=config.dt_min,
                    dt_max=config.dt_max, conv_bias=config.conv_bias, scan_mode=config.scan_mode, chunk=config.chunk)


class SelectiveChannelMixer(ChannelMixer):
    """Per-token channel S6 on ``(B, *spatial, C)``: token by token, S6 along the C channels (module docstring)."""

    Config = SelectiveChannelMixerConfig
    config: SelectiveChannelMixerConfig
    pointwise = True
    #: small widths: the channels are the scanned sequence, and the kit's traced exports unroll the scans
    conformance_configs = (
        {"dim": 16},
        {"dim": 8, "bidirectional": False, "d_inner": 4, "d_state": 4, "scan_mode": "sequential", "d_conv": 1,
         "proj_bias": False},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        fields = channel_s6_fields(c)
        self.lift = nn.Linear(1, 2 * c.d_inner, bias=c.proj_bias)
        self.forward_branch = S6Branch(fields, width=c.d_inner, d_model=c.d_inner)
        self.backward_branch = S6Branch(fields, width=c.d_inner, d_model=c.d_inner) if c.bidirectional else None
        self.proj = nn.Linear(c.d_inner, 1, bias=c.proj_bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.dim:
            raise ValueError(f"selective_channel_mixer (dim={self.dim}) cannot take input {tuple(x.shape)}")
        seq = x.reshape(-1, self.dim, 1)  # one sequence of C scalars per token
        xs, z = self.lift(seq).chunk(2, dim=-1)  # (T, C, d_inner) each
        if self.backward_branch is None:
            y = self.forward_branch(xs)
        else:
            y = bidirectional(xs, self.forward_branch, self.backward_branch)
        return self.proj(y * F.silu(z)).reshape(x.shape)


class SelectiveChannelMixerPaper(TokenMixer):
    """The literal Selective Channel Mixer on ``(B, *spatial, C)`` with ``prod(spatial) == num_tokens``: the
    bidirectional S6 block on ``x^T`` ``(B, C, L)`` (module docstring). Mixes tokens too; not causal."""

    Config = SelectiveChannelMixerPaperConfig
    config: SelectiveChannelMixerPaperConfig
    causal = False
    #: small widths: the channels are the scanned sequence, and the kit's traced exports unroll the scans
    conformance_configs = (
        {"dim": 8, "d_state": 4},
        {"dim": 6, "share_directions": True, "bcdt_from": "input", "expand": 1, "scan_mode": "sequential"},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        tokens = c.num_tokens
        width = c.expand * tokens
        self.in_proj = nn.Linear(tokens, 2 * width, bias=c.proj_bias)
        self.forward_branch = S6Branch(c, width=width, d_model=tokens)
        self.backward_branch = self.forward_branch if c.share_directions else S6Branch(c, width=width,
                                                                                         d_model=tokens)
        self.out_proj = nn.Linear(width, tokens, bias=c.proj_bias)

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {} if None in spatial else {"num_tokens": math.prod(spatial)}  # type: ignore[arg-type]

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return super().supports(spatial) and math.prod(spatial) == self.config.num_tokens

    def forward(self, x: Tensor) -> Tensor:
        spatial = tuple(x.shape[1:-1])
        if not self.supports(spatial) or x.shape[-1] != self.dim:
            raise ValueError(f"selective_channel_mixer_paper (num_tokens={self.config.num_tokens}, dim={self.dim}) "
                             f"cannot take input {tuple(x.shape)}")
        xt = x.reshape(x.shape[0], -1, self.dim).transpose(1, 2)  # (B, C, L): channels are the sequence
        xs, z = self.in_proj(xt).chunk(2, dim=-1)
        y = self.out_proj(bidirectional(xs, self.forward_branch, self.backward_branch) * F.silu(z))
        return y.transpose(1, 2).reshape(x.shape)
