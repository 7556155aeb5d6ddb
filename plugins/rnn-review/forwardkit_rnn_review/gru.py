"""``gru_mixer``: the gated recurrent unit (Cho et al. 2014, arXiv 1406.1078, eqs. 5-8; not in the survey).

    r(t) = sigma(W_r x(t) + U_r h(t-1) + b_r)                       reset gate
    z(t) = sigma(W_z x(t) + U_z h(t-1) + b_z)                       update gate
    n(t) = phi(W_n x(t) + b_n + r(t) * (U_n h(t-1) + b_hn))         'after_matmul' (PyTorch's nn.GRU)
    n(t) = phi(W_n x(t) + U_n (r(t) * h(t-1)) + b_n)                'before_matmul' (Cho et al. 2014)
    h(t) = (1 - z(t)) * n(t) + z(t) * h(t-1)

with ``h(0) = 0``. The two candidate forms are different functions. Weights are stacked in PyTorch's row
order: ``W = [W_r; W_z; W_n]`` ``(3H, C)``, ``U = [U_r; U_z; U_n]`` ``(3H, H)``, ``b = [b_r; b_z; b_n]``
``(3H,)``, and ``b_hn`` ``(H,)`` (the recurrent bias inside the reset product; 'after_matmul' only).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit_rnn_review.config import GRUConfig
from forwardkit_rnn_review.recurrent import RecurrentMixer, State, fused_call, uniform_


def gru_reference(x: Tensor, w: Tensor, u: Tensor, b: Tensor, b_hn: Tensor | None = None, h0: Tensor | None = None,
                  *, reset_position: str = "after_matmul") -> tuple[Tensor, Tensor]:
    """The GRU recurrence, one step per token.

    ``x`` ``(B, N, C)``, ``w`` ``(3H, C)``, ``u`` ``(3H, H)``, ``b`` ``(3H,)`` (rows ``r, z, n``), ``b_hn``
    ``(H,)`` ('after_matmul'; None: 0), ``h0`` ``(B, H)`` (None: zeros). Returns every ``h(t)`` ``(B, N, H)``
    and ``h(N)``.
    """
    hidden = u.shape[1]
    h = x.new_zeros(x.shape[0], hidden) if h0 is None else h0
    u_rz, u_n = u[: 2 * hidden], u[2 * hidden:]
    # W x(t) + b for the three rows, every t at once: (B, N, H) each
    drive_r, drive_z, drive_n = (x @ w.T + b).chunk(3, dim=-1)
    outputs = []
    for t in range(x.shape[1]):
        rec_r, rec_z = (h @ u_rz.T).chunk(2, dim=-1)
        r = torch.sigmoid(drive_r[:, t] + rec_r)                     # reset gate r(t)
        z = torch.sigmoid(drive_z[:, t] + rec_z)                     # update gate z(t)
        d_n = drive_n[:, t]
        if reset_position == "after_matmul":
            rec_n = h @ u_n.T + (b_hn if b_hn is not None else 0.0)
            n = torch.tanh(d_n + r * rec_n)                          # n = phi(W_n x + b_n + r * (U_n h + b_hn))
        else:
            n = torch.tanh(d_n + (r * h) @ u_n.T)                    # n = phi(W_n x + U_n (r * h) + b_n)
        h = (1.0 - z) * n + z * h                                    # h(t) = (1 - z) * n + z * h(t-1)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h


class GRUMixer(RecurrentMixer):
    """GRU token mixer on ``(B, *spatial, C)`` (raster order), causal. Parameters ``w`` ``(3H, C)``, ``u``
    ``(3H, H)``, ``b`` ``(3H,)`` and, for ``reset_position='after_matmul'``, ``b_hn`` ``(H,)``."""

    Config = GRUConfig
    config: GRUConfig
    state_slots: ClassVar[int] = 1
    #: the kit exports the first two (torch.export unrolls the reference loop: slow), then draws from all
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"backend": "torch"}, {"backend": "torch", "hidden": 3},
        {}, {"reset_position": "before_matmul", "hidden": 3, "scan": "raster"}]

    def __init__(self, config: GRUConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        h, c = self.hidden, self.dim
        self.w = nn.Parameter(torch.empty(3 * h, c))
        self.u = nn.Parameter(torch.empty(3 * h, h))
        self.b = nn.Parameter(torch.empty(3 * h))
        self.b_hn = nn.Parameter(torch.empty(h)) if self.config.reset_position == "after_matmul" else None
        self.set_kernel(nn.GRU(c, h, batch_first=True))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's init)."""
        for p in self.parameters(recurse=False):
            uniform_(p, self.hidden)

    def reference(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:
        h0 = None if state is None else state[0]
        out, h = gru_reference(x, self.w, self.u, self.b, self.b_hn, h0, reset_position=self.config.reset_position)
        return out, (h,)

    def fused(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:
        h0 = self.zero_state(x.shape[0], like=x)[0] if state is None else state[0]
        assert self.b_hn is not None, "the torch backend needs reset_position='after_matmul'"
        b_hh = torch.cat([torch.zeros_like(self.b[: 2 * self.hidden]), self.b_hn])
        weights = {"weight_ih_l0": self.w, "weight_hh_l0": self.u, "bias_ih_l0": self.b, "bias_hh_l0": b_hh}
        out, hn = fused_call(self._kernel, x, weights, h0.unsqueeze(0).contiguous())
        return out, (hn[0],)
