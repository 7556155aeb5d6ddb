"""What the three recurrent token mixers share: the raster scan, the hidden size, the state and the two backends.

A recurrent mixer maps tokens ``(B, *spatial, C)`` to ``(B, *spatial, C)``: the tokens are read as one
sequence in raster (row-major) order, ``(B, N, C)`` with ``N = prod(spatial)``, the recurrence runs from the
first token to the last (so the mixer is causal in that order) and the hidden states ``(B, N, H)`` are
mapped back to C channels by a Linear when ``H != C``. Subclasses hold their parameters in the survey's
notation and implement one recurrence twice: :meth:`RecurrentMixer.reference` (the equations, one step per
token) and :meth:`RecurrentMixer.fused` (PyTorch's kernel); both start from the zero state unless one is
given, and both return the last state, which :meth:`RecurrentMixer.forward_with_state` carries across windows
of a stream (truncated BPTT).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.func import functional_call

from forwardkit.interfaces import TokenMixer
from forwardkit_rnn_review.config import RecurrentMixerConfig

State = tuple[Tensor, ...]


def uniform_(tensor: Tensor, hidden: int) -> Tensor:
    """PyTorch's RNN initialisation in place: ``U(-1/sqrt(H), 1/sqrt(H))``."""
    bound = 1.0 / math.sqrt(hidden)
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


def fused_call(kernel: nn.RNNBase, x: Tensor, weights: dict[str, Tensor], hx: Any) -> tuple[Tensor, Any]:
    """Run a PyTorch RNN module (``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``, one layer, ``batch_first``) with the
    given weights instead of its own (``torch.func.functional_call``): ``x`` ``(B, N, C)``; ``weights`` maps
    ``weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0`` to tensors in PyTorch's layout; ``hx`` is the
    module's state argument (``(1, B, H)`` tensors). Returns the module's ``(output (B, N, H), state)``."""
    return functional_call(kernel, weights, (x, hx))


class RecurrentMixer(TokenMixer):
    """Base of the recurrent token mixers: raster scan, hidden size H, zero initial state, backend choice."""

    Config: ClassVar[type[RecurrentMixerConfig]] = RecurrentMixerConfig
    config: RecurrentMixerConfig
    causal = True
    #: tensors in the state: 1 (``h``) or 2 (``h``, ``s``) of shape ``(B, H)``
    state_slots: ClassVar[int] = 1
    #: PyTorch's module for this cell, kept outside the module tree (no parameters of its own in the state
    #: dict): :func:`fused_call` runs it on the mixer's parameters
    _kernel: nn.RNNBase

    def set_kernel(self, kernel: nn.RNNBase) -> None:
        """Hold ``kernel`` without registering it as a submodule."""
        object.__setattr__(self, "_kernel", kernel)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.hidden = self.config.hidden or self.dim
        self.proj: nn.Module = nn.Linear(self.hidden, self.dim) if self.hidden != self.dim else nn.Identity()

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) == 1 or (self.config.scan == "raster" and len(spatial) in self.ranks)

    # ---- the recurrence: implemented by each cell -----------------------------------------------------
    def reference(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:  # pragma: no cover - interface
        """The survey's equations, step by step: ``x`` ``(B, N, C)`` -> hidden states ``(B, N, H)``, last state."""
        raise NotImplementedError

    def fused(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:  # pragma: no cover - interface
        """The same function through PyTorch's fused kernel."""
        raise NotImplementedError

    def zero_state(self, batch: int, *, like: Tensor) -> State:
        """The initial state: ``state_slots`` zero tensors ``(B, H)`` of ``like``'s dtype and device."""
        return tuple(like.new_zeros(batch, self.hidden) for _ in range(self.state_slots))

    # ---- the token-mixer interface ----------------------------------------------------------------------
    def recur(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Hidden states ``(B, N, H)`` and the last state for a sequence ``x`` ``(B, N, C)`` (the chosen backend)."""
        if state is None:
            state = self.zero_state(x.shape[0], like=x)
        if self.config.backend == "torch":
            return self.fused(x, state)
        return self.reference(x, state)

    def forward_with_state(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One window of a stream: ``x`` ``(B, N, C)`` from ``state`` (None: zeros) -> ``(B, N, C)`` and the
        last state (not detached: the caller decides where gradients stop)."""
        h, last = self.recur(x, state)
        return self.proj(h), last

    def forward(self, x: Tensor) -> Tensor:
        """``(B, *spatial, C)`` -> ``(B, *spatial, C)``: the recurrence over the raster-ordered tokens."""
        spatial = tuple(x.shape[1:-1])
        if not self.supports(spatial):
            raise ValueError(f"{type(self).__name__} with scan={self.config.scan!r} takes (B, N, C) sequences, "
                             f"got {tuple(x.shape)}; set scan='raster' to read a grid in raster order")
        y, _ = self.forward_with_state(x.reshape(x.shape[0], -1, x.shape[-1]))
        return y.reshape(x.shape)
