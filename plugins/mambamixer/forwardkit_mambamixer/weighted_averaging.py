"""Weighted averaging of earlier features (paper §3.2, eqs. 19-20), DenseFormer style.

With ``y_T^(0) = y_C^(0) = x`` (the stack's input), block l = 1..L of the stack reads::

    x_T^(l) = sum_{i=0}^{l-1} alpha[l, i] y_T^(i) + sum_{i=0}^{l-1} beta[l, i]  y_C^(i)        (eq. 19)
    x_C^(l) = sum_{i=0}^{l}   theta[l, i] y_T^(i) + sum_{i=0}^{l-1} gamma[l, i] y_C^(i)        (eq. 20)
    y_T^(l) = x_T^(l) + TokenMixer_l(Norm(x_T^(l)))        (residual, pre-norm: the block form used here)
    y_C^(l) = x_C^(l) + ChannelMixer_l(Norm(x_C^(l)))       (y_C^(l) = x_C^(l) without a channel mixer)

and returns ``y_C^(L)``. The coefficients are learnable scalars, ``L (2 L + 3)`` of them (the paper's memory
count). ``init='identity'`` sets ``beta[l, l-1] = theta[l, l] = 1`` and the rest 0: exactly the plain
sequential residual stack token -> channel -> token -> ..., which ``weighted=False`` runs without coefficients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit_mambamixer.config import WeightedAveragingConfig

__all__ = ["WeightedAveragingStack", "coefficient_count", "weighted_average"]

FAMILIES = ("alpha", "beta", "theta", "gamma")


def weighted_average(features: Sequence[Tensor], weights: Tensor) -> Tensor:
    """``sum_i weights[i] features[i]`` for features of one shape (eqs. 19-20); ``weights`` ``(len(features),)``."""
    if len(features) != weights.shape[0]:
        raise ValueError(f"{len(features)} features but {weights.shape[0]} weights")
    out = features[0] * weights[0]
    for f, w in zip(features[1:], weights[1:], strict=True):
        out = out + f * w
    return out


def coefficient_count(num_layers: int) -> int:
    """``sum_l (l + l + (l + 1) + l) = L (2 L + 3)`` coefficients for L layers (paper §3.3, space complexity)."""
    return num_layers * (2 * num_layers + 3)


def _initial(family: str, layer: int, init: str) -> Tensor:
    """Initial coefficients of one family for block ``layer`` (1-based): ``(layer + 1,)`` for theta, else
    ``(layer,)``."""
    size = layer + 1 if family == "theta" else layer
    if init == "uniform":
        inputs = 2 * layer + 1 if family in ("theta", "gamma") else 2 * layer
        return torch.full((size,), 1.0 / inputs)
    values = torch.zeros(size)
    if family == "beta":
        values[layer - 1] = 1.0  # the previous block's channel output
    elif family == "theta":
        values[layer] = 1.0  # this block's token output
    return values


class WeightedAveragingStack(nn.Module):
    """``L`` MambaMixer layers (token mixer, optional channel mixer) on tensors of any shape ``(..., dim)``
    joined by weighted averaging (module docstring). Keyword-only: ``config``, ``token_mixers``,
    ``channel_mixers`` (``None`` entries: no channel mixer in that layer), ``dim`` (the norms' width)."""

    def __init__(self, *, config: WeightedAveragingConfig, token_mixers: Sequence[nn.Module],
                 channel_mixers: Sequence[nn.Module | None], dim: int) -> None:
        super().__init__()
        if not (len(token_mixers) == len(channel_mixers) == config.num_layers):
            raise ValueError(f"num_layers={config.num_layers} needs that many token and channel mixers, got "
                             f"{len(token_mixers)} and {len(channel_mixers)}")
        self.config = config
        self.token_mixers = nn.ModuleList(token_mixers)
        self.channel_mixers = nn.ModuleList(m if m is not None else nn.Identity() for m in channel_mixers)
        self.has_channel = [m is not None for m in channel_mixers]
        self.token_norms = nn.ModuleList(self._norm(dim) for _ in token_mixers)
        self.channel_norms = nn.ModuleList(self._norm(dim) if m is not None else nn.Identity() for m in channel_mixers)
        self.drop = nn.Dropout(config.drop)
        if config.weighted:
            for family in FAMILIES:
                setattr(self, family, nn.ParameterList(nn.Parameter(_initial(family, layer, config.init))
                                                       for layer in range(1, config.num_layers + 1)))

    def _norm(self, dim: int) -> nn.Module:
        return nn.LayerNorm(dim, eps=self.config.norm_eps) if self.config.pre_norm else nn.Identity()

    def coefficients(self, layer: int) -> dict[str, Tensor]:
        """The effective (after ``normalize``) coefficients of block ``layer`` (1-based): alpha, beta ``(l,)``,
        theta ``(l + 1,)``, gamma ``(l,)``."""
        if not self.config.weighted:
            raise ValueError("this stack has no coefficients (weighted=False)")
        raw = {f: getattr(self, f)[layer - 1] for f in FAMILIES}
        if self.config.normalize == "softmax":
            token = torch.cat([raw["alpha"], raw["beta"]]).softmax(0)
            channel = torch.cat([raw["theta"], raw["gamma"]]).softmax(0)
            return {"alpha": token[:layer], "beta": token[layer:], "theta": channel[: layer + 1],
                    "gamma": channel[layer + 1 :]}
        return raw

    def _block(self, mixer: nn.Module, norm: nn.Module, x: Tensor) -> Tensor:
        out = self.drop(mixer(norm(x)))
        return x + out if self.config.residual else out

    def _input(self, layer: int, which: str, tokens: list[Tensor], channels: list[Tensor]) -> Tensor:
        """The input of block ``layer``'s token (eq. 19) or channel (eq. 20) mixer from the outputs so far."""
        if not self.config.weighted:
            return channels[-1] if which == "token" else tokens[-1]
        w = self.coefficients(layer)
        first, second = ("alpha", "beta") if which == "token" else ("theta", "gamma")
        return weighted_average(tokens + channels, torch.cat([w[first], w[second]]))

    def forward(self, x: Tensor) -> Tensor:
        """``(..., dim)`` -> the same shape: ``y_C^(L)``."""
        tokens: list[Tensor] = [x]  # y_T^(0..l)
        channels: list[Tensor] = [x]  # y_C^(0..l)
        for layer in range(1, self.config.num_layers + 1):
            i = layer - 1
            x_t = self._input(layer, "token", tokens, channels)
            tokens.append(self._block(self.token_mixers[i], self.token_norms[i], x_t))
            x_c = self._input(layer, "channel", tokens, channels)
            channels.append(self._block(self.channel_mixers[i], self.channel_norms[i], x_c) if self.has_channel[i]
                            else x_c)
        return channels[-1]

    def extra_repr(self) -> str:
        c = self.config
        return f"layers={c.num_layers}, weighted={c.weighted}, init={c.init}, normalize={c.normalize}"

    def describe(self) -> dict[str, Any]:
        """Settings for analyzers: layers, which have a channel mixer, whether weighted."""
        return {"num_layers": self.config.num_layers, "weighted": self.config.weighted,
                "channel_mixers": list(self.has_channel)}
