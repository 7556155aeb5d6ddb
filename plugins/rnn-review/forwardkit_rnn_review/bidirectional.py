"""``bidirectional_mixer``: the bidirectional RNN of the survey, sec. 4.2 (Schuster & Paliwal 1997).

    h(t) = sigma(W^{hx} x(t) + W^{hh} h(t-1) + b_h)          left to right
    z(t) = sigma(W^{zx} x(t) + W^{zz} z(t+1) + b_z)          right to left
    y(t) = W^{yh} h(t) + W^{yz} z(t) + b_y                   merged (the softmax belongs to the model)

Two independent recurrent layers, each any causal mixer of this plugin (or any causal token mixer): the
forward one reads the sequence as is, the backward one the time-reversed sequence, whose output is reversed
back so that ``z(t)`` sits at position t. ``merge='concat_linear'`` is the survey's read-out, a
``Linear(2C, C)`` of ``[h(t); z(t)]``; ``merge='sum'`` adds them. The output at t depends on every input, so
the mixer is not causal.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit_rnn_review.config import BidirectionalConfig


def bidirectional(x: Tensor, forward: nn.Module, backward: nn.Module, merge: nn.Module | None = None) -> Tensor:
    """Bidirectional read of a sequence ``x`` ``(B, N, C)``: ``forward(x)`` and ``flip(backward(flip(x)))``
    (``(B, N, C')`` each, flipped along N), merged by ``merge`` on their concatenation ``(B, N, 2C')`` or
    summed when ``merge`` is None."""
    h = forward(x)
    z = torch.flip(backward(torch.flip(x, dims=[1])), dims=[1])
    return merge(torch.cat([h, z], dim=-1)) if merge is not None else h + z


class BidirectionalMixer(TokenMixer):
    """Bidirectional wrapper on ``(B, *spatial, C)`` (raster order): an inner causal mixer per direction
    (``inner``, built twice with ``dim = C``, or once with ``share_weights``), merged; not causal."""

    Config = BidirectionalConfig
    config: BidirectionalConfig
    causal = False
    #: the kit exports the first two (fused inner mixers: the reference loops unroll slowly), then draws from all
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"inner": {"name": "lstm_mixer", "backend": "torch"}},
        {"inner": {"name": "gru_mixer", "backend": "torch"}, "merge": "sum"},
        {"inner": {"name": "elman_rnn_mixer", "hidden": 5}, "share_weights": True, "merge": "sum", "scan": "raster"},
        {},
    ]

    def __init__(self, config: BidirectionalConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.forward_mixer: nn.Module = cfg.inner.build_for_input((None,), dim=self.dim)
        if not getattr(self.forward_mixer, "causal", False):
            raise ValueError(f"the inner mixer {cfg.inner.name!r} is not causal: a bidirectional RNN runs a "
                             "unidirectional (causal) mixer each way")
        self.backward_mixer: nn.Module = (self.forward_mixer if cfg.share_weights
                                          else cfg.inner.build_for_input((None,), dim=self.dim))
        self.merge: nn.Module | None = nn.Linear(2 * self.dim, self.dim) if cfg.merge == "concat_linear" else None

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) == 1 or (self.config.scan == "raster" and len(spatial) in self.ranks)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, *spatial, C)`` -> ``(B, *spatial, C)``: both directions over the raster-ordered tokens."""
        if not self.supports(tuple(x.shape[1:-1])):
            raise ValueError(f"bidirectional_mixer with scan='none' takes (B, N, C) sequences, got {tuple(x.shape)}")
        seq = x.reshape(x.shape[0], -1, x.shape[-1])
        return bidirectional(seq, self.forward_mixer, self.backward_mixer, self.merge).reshape(x.shape)
