"""``lstm_mixer``: the LSTM memory cell with forget gates, in the survey's notation (sec. 4.1).

    g(t) = phi(W^{gx} x(t) + W^{gh} h(t-1) + b_g)        input node
    i(t) = sigma(W^{ix} x(t) + W^{ih} h(t-1) + b_i)      input gate
    f(t) = sigma(W^{fx} x(t) + W^{fh} h(t-1) + b_f)      forget gate
    o(t) = sigma(W^{ox} x(t) + W^{oh} h(t-1) + b_o)      output gate
    s(t) = g(t) * i(t) + s(t-1) * f(t)                   internal state
    h(t) = phi(s(t)) * o(t)                              output (state_activation='identity': s(t) * o(t))

with ``h(0) = s(0) = 0``. Without a forget gate (the 1997 cell) ``f = 1``: ``s(t) = g(t) * i(t) + s(t-1)``,
the constant error carousel. Peepholes add ``p_i * s(t-1)`` and ``p_f * s(t-1)`` to the i and f
pre-activations and ``p_o * s(t)`` to o's (diagonal weights ``(H,)``).

The gate weights are stacked in PyTorch's row order, ``W^{.x} = [W^{ix}; W^{fx}; W^{gx}; W^{ox}]``
``(4H, C)``, ``W^{.h}`` ``(4H, H)``, one bias ``b`` ``(4H,)`` (``[i; g; o]`` without a forget gate), so the
plain cell runs unchanged through ``nn.LSTM`` (whose two biases sum to ``b``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit_rnn_review.config import LSTMConfig
from forwardkit_rnn_review.recurrent import RecurrentMixer, State, fused_call, uniform_


def lstm_reference(x: Tensor, w_x: Tensor, w_h: Tensor, b: Tensor, state: State | None = None, *,
                   forget_gate: bool = True, peephole: tuple[Tensor, Tensor, Tensor] | None = None,
                   state_activation: str = "tanh") -> tuple[Tensor, State]:
    """The LSTM recurrence (survey sec. 4.1), one step per token.

    ``x`` ``(B, N, C)``; ``w_x`` ``(G*H, C)``, ``w_h`` ``(G*H, H)``, ``b`` ``(G*H,)`` with the gates in the
    order ``i, f, g, o`` (``G = 4``) or ``i, g, o`` without a forget gate (``G = 3``); ``peephole`` the
    diagonal weights ``(p_i, p_f, p_o)`` ``(H,)`` each (``p_f`` unused without a forget gate); ``state``
    ``(h(0), s(0))`` ``(B, H)`` each (None: zeros). Returns every ``h(t)`` ``(B, N, H)`` and ``(h(N), s(N))``.
    """
    hidden = w_h.shape[1]
    if state is None:
        state = (x.new_zeros(x.shape[0], hidden), x.new_zeros(x.shape[0], hidden))
    h, s = state
    drive = x @ w_x.T + b  # the W^{.x} x(t) + b_. part of every gate, for every t at once: (B, N, G*H)
    outputs = []
    for t in range(x.shape[1]):
        pre = drive[:, t] + h @ w_h.T
        if forget_gate:
            a_i, a_f, a_g, a_o = pre.chunk(4, dim=-1)
        else:
            (a_i, a_g, a_o), a_f = pre.chunk(3, dim=-1), None
        if peephole is not None:
            a_i = a_i + peephole[0] * s
            a_f = None if a_f is None else a_f + peephole[1] * s
        g = torch.tanh(a_g)                                 # input node g(t)
        i = torch.sigmoid(a_i)                              # input gate i(t)
        if a_f is None:                                     # the 1997 cell: f = 1, s(t) = g(t) * i(t) + s(t-1)
            s = g * i + s
        else:
            f = torch.sigmoid(a_f)                          # forget gate f(t)
            s = g * i + s * f                               # s(t) = g(t) * i(t) + s(t-1) * f(t)
        if peephole is not None:
            a_o = a_o + peephole[2] * s
        o = torch.sigmoid(a_o)                              # output gate o(t)
        h = (torch.tanh(s) if state_activation == "tanh" else s) * o   # h(t) = phi(s(t)) * o(t)
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, s)


class LSTMMixer(RecurrentMixer):
    """LSTM token mixer on ``(B, *spatial, C)`` (raster order), causal; state ``(h, s)``. Parameters
    ``w_x`` ``(G*H, C)``, ``w_h`` ``(G*H, H)``, ``b`` ``(G*H,)`` (gates ``i, f, g, o``; ``G = 3`` without a
    forget gate) and, with peepholes, ``p_i``, ``p_f``, ``p_o`` ``(H,)``."""

    Config = LSTMConfig
    config: LSTMConfig
    state_slots: ClassVar[int] = 2
    #: the kit exports the first two (torch.export unrolls the reference loop: slow), then draws from all
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"backend": "torch"}, {"backend": "torch", "hidden": 3, "forget_bias": None},
        {"hidden": 3, "peephole": True, "scan": "raster"}, {"forget_gate": False, "peephole": True},
        {"state_activation": "identity"}]

    def __init__(self, config: LSTMConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        h, c = self.hidden, self.dim
        gates = 4 if self.config.forget_gate else 3
        self.w_x = nn.Parameter(torch.empty(gates * h, c))
        self.w_h = nn.Parameter(torch.empty(gates * h, h))
        self.b = nn.Parameter(torch.empty(gates * h))
        if self.config.peephole:
            self.p_i = nn.Parameter(torch.empty(h))
            self.p_o = nn.Parameter(torch.empty(h))
            if self.config.forget_gate:
                self.p_f = nn.Parameter(torch.empty(h))
        self.set_kernel(nn.LSTM(c, h, batch_first=True))
        self.reset_parameters()

    def peepholes(self) -> tuple[Tensor, Tensor, Tensor] | None:
        """``(p_i, p_f, p_o)`` (``p_f`` is ``p_i`` as a placeholder without a forget gate), or None."""
        if not self.config.peephole:
            return None
        return self.p_i, getattr(self, "p_f", self.p_i), self.p_o

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's init), then ``b_f = forget_bias``."""
        for p in self.parameters(recurse=False):
            uniform_(p, self.hidden)
        if self.config.forget_gate and self.config.forget_bias is not None:
            with torch.no_grad():
                self.b[self.hidden: 2 * self.hidden].fill_(self.config.forget_bias)

    def reference(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:
        return lstm_reference(x, self.w_x, self.w_h, self.b, state, forget_gate=self.config.forget_gate,
                              peephole=self.peepholes(), state_activation=self.config.state_activation)

    def fused(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:
        h0, s0 = self.zero_state(x.shape[0], like=x) if state is None else state
        weights = {"weight_ih_l0": self.w_x, "weight_hh_l0": self.w_h, "bias_ih_l0": self.b,
                   "bias_hh_l0": torch.zeros_like(self.b)}
        out, (hn, sn) = fused_call(self._kernel, x, weights,
                                   (h0.unsqueeze(0).contiguous(), s0.unsqueeze(0).contiguous()))
        return out, (hn[0], sn[0])
