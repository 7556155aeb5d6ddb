"""``elman_rnn_mixer``: the Elman (simple) recurrent network of the survey, sec. 3.

    h(t) = sigma_h(W^{hx} x(t) + W^{hh} h(t-1) + b_h),      h(0) = 0

(the output layer ``y(t) = softmax(W^{yh} h(t) + b_y)`` belongs to the model). ``W^{hx}`` is ``(H, C)``,
``W^{hh}`` ``(H, H)``, ``b_h`` ``(H,)``. PyTorch's ``nn.RNN`` computes the same function with two biases,
``b_ih + b_hh = b_h``; :mod:`forwardkit_rnn_review.parity` maps one layout onto the other.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit_rnn_review.config import ElmanRNNConfig
from forwardkit_rnn_review.recurrent import RecurrentMixer, State, fused_call, uniform_

ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


def elman_reference(x: Tensor, w_hx: Tensor, w_hh: Tensor, b_h: Tensor, h0: Tensor | None = None, *,
                    activation: str = "tanh") -> tuple[Tensor, Tensor]:
    """The Elman recurrence (survey sec. 3), one step per token.

    ``x`` ``(B, N, C)``, ``w_hx`` ``(H, C)``, ``w_hh`` ``(H, H)``, ``b_h`` ``(H,)``, ``h0`` ``(B, H)`` (None:
    zeros). Returns every ``h(t)`` ``(B, N, H)`` and the last ``h(N)`` ``(B, H)``.
    """
    act = ACTIVATIONS[activation]
    h = x.new_zeros(x.shape[0], w_hh.shape[0]) if h0 is None else h0
    drive = x @ w_hx.T + b_h  # W^{hx} x(t) + b_h for every t at once: (B, N, H)
    outputs = []
    for t in range(x.shape[1]):
        h = act(drive[:, t] + h @ w_hh.T)  # h(t) = sigma_h(W^{hx} x(t) + W^{hh} h(t-1) + b_h)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h


class ElmanRNNMixer(RecurrentMixer):
    """Elman RNN token mixer on ``(B, *spatial, C)`` (raster order), causal; hidden states ``(B, N, H)``
    mapped back to C when ``H != C``. Parameters: ``w_hx`` ``(H, C)``, ``w_hh`` ``(H, H)``, ``b_h`` ``(H,)``."""

    Config = ElmanRNNConfig
    config: ElmanRNNConfig
    state_slots: ClassVar[int] = 1
    #: the kit exports the first two (torch.export unrolls the reference loop: slow), then draws from all
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"backend": "torch"}, {"backend": "torch", "hidden": 3, "activation": "relu", "init": "default"},
        {}, {"hidden": 3, "activation": "sigmoid", "recurrent_gain": 0.5, "scan": "raster"}]

    def __init__(self, config: ElmanRNNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        h, c = self.hidden, self.dim
        self.w_hx = nn.Parameter(torch.empty(h, c))
        self.w_hh = nn.Parameter(torch.empty(h, h))
        self.b_h = nn.Parameter(torch.empty(h))
        nonlinearity = "relu" if self.config.activation == "relu" else "tanh"
        self.set_kernel(nn.RNN(c, h, nonlinearity=nonlinearity, batch_first=True))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``W^{hx}``, ``b_h`` ~ U(-1/sqrt(H), 1/sqrt(H)); ``W^{hh}`` orthogonal times ``recurrent_gain``
        (``init='orthogonal'``) or uniform like the others."""
        for p in (self.w_hx, self.b_h, self.w_hh):
            uniform_(p, self.hidden)
        if self.config.init == "orthogonal":
            with torch.no_grad():
                nn.init.orthogonal_(self.w_hh)
                self.w_hh.mul_(self.config.recurrent_gain)

    def reference(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:
        h0 = None if state is None else state[0]
        out, h = elman_reference(x, self.w_hx, self.w_hh, self.b_h, h0, activation=self.config.activation)
        return out, (h,)

    def fused(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:
        h0 = self.zero_state(x.shape[0], like=x)[0] if state is None else state[0]
        weights = {"weight_ih_l0": self.w_hx, "weight_hh_l0": self.w_hh, "bias_ih_l0": self.b_h,
                   "bias_hh_l0": torch.zeros_like(self.b_h)}
        out, hn = fused_call(self._kernel, x, weights, h0.unsqueeze(0).contiguous())
        return out, (hn[0],)
