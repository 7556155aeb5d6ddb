"""The Transformer encoder both forecasters share, built from registered token and channel mixers.

Layer (paper §3.2, official ``EncoderLayer``), post-norm by default::

    H <- LN1(H + Dropout(TokenMixer(H)))          # attention across tokens (variates or time steps)
    H <- LN2(H + ChannelMixer(H))                 # FFN per token: Dropout(W2 Dropout(act(W1 H)))

then a final ``LayerNorm(D)``. Tokens are ``(B, L, D)`` (channels last): ``L = N`` variates for the
inverted model, ``L = T`` time steps for the temporal-token baseline.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.config import ComponentSpec
from forwardkit.errors import ForwardkitError

__all__ = ["Encoder", "EncoderLayer", "attention_scores", "build_mixer", "sinusoidal_positions"]


def _known(spec: ComponentSpec, settings: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``settings`` that ``spec``'s Config has as fields."""
    fields = type(spec.config).model_fields
    return {k: v for k, v in settings.items() if k in fields}


def build_mixer(spec: ComponentSpec, *, dim: int, defaults: dict[str, Any], require_pointwise: bool = False,
                forbid_causal: bool = True, owner: str = "iTransformer") -> nn.Module:
    """Create the mixer of ``spec`` with ``dim`` and the encoder's ``defaults`` (for the fields its Config
    has), and check that it works on sequences ``(B, L, dim)``: rank 1 supported, not causal
    (when ``forbid_causal``), pointwise (when ``require_pointwise``). Raises :class:`ForwardkitError`."""
    mixer = spec.build(dim=dim, **_known(spec, defaults))
    ranks = getattr(type(mixer), "ranks", frozenset({1}))
    if 1 not in ranks:
        raise ForwardkitError(
            f"{spec.kind} {spec.name!r} does not accept sequences (spatial rank 1; it supports ranks "
            f"{sorted(ranks)}), but {owner} mixes (B, L, D) token sequences")
    if forbid_causal and bool(getattr(mixer, "causal", False)):
        raise ForwardkitError(
            f"{spec.kind} {spec.name!r} is causal; {owner} attends across variates, which have no order "
            "(mask_flag=False in the official code): choose a non-causal token mixer")
    if require_pointwise and not bool(getattr(mixer, "pointwise", True)):
        raise ForwardkitError(
            f"{spec.kind} {spec.name!r} is not pointwise; {owner}'s FFN must treat each variate token on its own, "
            "otherwise the arbitrary order of the variates would matter")
    return mixer


def attention_scores(mixer: nn.Module, tokens: Tensor) -> Tensor:
    """Pre-softmax scores ``q k^T / sqrt(head_dim)`` of ``mixer`` on ``tokens`` ``(B, L, D)``:
    ``(B, heads, L, L)`` (Vaswani et al. eq. 1; iTransformer §4.3 reads them as variate correlations),
    from the mixer's own ``attention_scores(x)`` (the builtin ``attention`` has it). Softmax over the
    last axis gives the attention map. Raises :class:`ForwardkitError` for a mixer without scores."""
    scores_of = getattr(mixer, "attention_scores", None)
    if not callable(scores_of):
        raise ForwardkitError(
            f"attention maps need a token mixer with attention_scores(x) (such as the builtin 'attention'); "
            f"{type(mixer).__name__} exposes no scores")
    return scores_of(tokens)


def sinusoidal_positions(length: int, dim: int) -> Tensor:
    """Sinusoidal position table ``(length, dim)`` (Vaswani et al. 2017, §3.5)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table


class EncoderLayer(nn.Module):
    """One encoder layer on tokens ``(B, L, D)``; ``norm_style`` 'post' (paper) or 'pre'."""

    def __init__(self, token_mixer: nn.Module, channel_mixer: nn.Module, *, dim: int, dropout: float,
                 norm_style: str = "post") -> None:
        super().__init__()
        self.token_mixer = token_mixer
        self.channel_mixer = channel_mixer
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.norm_style = norm_style

    def mixer_input(self, h: Tensor) -> Tensor:
        """What the token mixer sees for layer input ``h`` ``(B, L, D)``."""
        return h if self.norm_style == "post" else self.norm1(h)

    def forward(self, h: Tensor) -> Tensor:
        if self.norm_style == "post":
            h = self.norm1(h + self.dropout(self.token_mixer(h)))
            return self.norm2(h + self.channel_mixer(h))
        h = h + self.dropout(self.token_mixer(self.norm1(h)))
        return h + self.channel_mixer(self.norm2(h))


class Encoder(nn.Module):
    """``num_layers`` :class:`EncoderLayer` and a final LayerNorm on ``(B, L, D)``."""

    def __init__(self, cfg: Any, *, forbid_causal: bool, require_pointwise: bool, owner: str) -> None:
        super().__init__()
        token_defaults, channel_defaults = cfg.mixer_settings()
        self.layers = nn.ModuleList(
            EncoderLayer(
                build_mixer(cfg.token_mixer, dim=cfg.d_model, defaults=token_defaults, forbid_causal=forbid_causal,
                            owner=owner),
                build_mixer(cfg.channel_mixer, dim=cfg.d_model, defaults=channel_defaults, forbid_causal=False,
                            require_pointwise=require_pointwise, owner=owner),
                dim=cfg.d_model, dropout=cfg.dropout, norm_style=cfg.norm_style,
            )
            for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, h: Tensor) -> Tensor:
        for layer in self.layers:
            h = layer(h)
        return self.norm(h)

    def scores(self, h: Tensor) -> list[Tensor]:
        """Per-layer pre-softmax attention scores ``(B, heads, L, L)`` for tokens ``h`` ``(B, L, D)``."""
        out = []
        for layer in self.layers:
            out.append(attention_scores(layer.token_mixer, layer.mixer_input(h)))
            h = layer(h)
        return out
