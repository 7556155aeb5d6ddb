"""The S6 layer (selective SSM, paper §3.1 eq. 5) and the Mamba block built from it (paper §3.2, eqs. 6-11).

``SelectiveSSM`` holds the data-dependent parameters of one scan direction::

    Delta_t = softplus(W_up(W_down u_t) + b_Delta)   (E,)   low rank r = ceil(C / 16)
    B_t = W_B u_t, C_t = W_C u_t                      (N,)
    A = -exp(A_log)                                   (E, N), A_log[e, n] = log(n + 1) at init
    D                                                 (E,),   1 at init

and runs :func:`~forwardkit_mambamixer.scan.selective_scan`. ``S6Block`` is Mamba's block: ``in_proj`` to the
S6 branch and the gate, causal depthwise conv, SiLU, S6, SiLU-gated product, ``out_proj``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit_mambamixer.config import S6Fields
from forwardkit_mambamixer.scan import selective_scan

__all__ = ["CausalDepthwiseConv1d", "S6Block", "S6Branch", "SelectiveSSM", "dt_bias_init", "resolve_dt_rank",
           "ssm_for"]


def resolve_dt_rank(dt_rank: int | str, d_model: int) -> int:
    """``ceil(d_model / 16)`` for ``"auto"`` (Mamba), else the given rank."""
    return math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)


def dt_bias_init(width: int, dt_min: float, dt_max: float, floor: float = 1e-4,
                 generator: torch.Generator | None = None) -> Tensor:
    """``b_Delta`` ``(E,)`` with ``softplus(b_Delta)`` log-uniform in ``[dt_min, dt_max]`` (Mamba's init):
    the inverse softplus ``dt + log(-expm1(-dt))`` of the drawn step sizes."""
    u = torch.rand(width, generator=generator, device="cpu")
    dt = torch.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


class SelectiveSSM(nn.Module):
    """One S6 direction on ``(B, L, E)`` sequences: ``forward(u, z=None, source=None) -> (B, L, E)``.

    ``source`` (default ``u``) is what B, C and Delta are computed from (paper eqs. 8-10 use the block input,
    Mamba the conv output); ``z`` gates the output with ``SiLU(z)``."""

    def __init__(self, *, width: int, d_state: int, dt_rank: int, dt_min: float = 1e-3, dt_max: float = 0.1,
                 scan_mode: str = "chunked", chunk: int = 64) -> None:
        super().__init__()
        self.d_state, self.dt_rank = d_state, dt_rank
        self.scan_mode, self.chunk = scan_mode, chunk
        self.x_proj = nn.Linear(width, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, width, bias=True)
        self.A_log = nn.Parameter(torch.empty(width, d_state))
        self.D = nn.Parameter(torch.empty(width))
        with torch.no_grad():  # the initial values are computed on the CPU (cheap also under a meta device)
            bound = dt_rank ** -0.5
            self.dt_proj.weight.uniform_(-bound, bound)
            self.dt_proj.bias.copy_(dt_bias_init(width, dt_min, dt_max))
            a = torch.arange(1, d_state + 1, dtype=torch.float32, device="cpu").repeat(width, 1)
            self.A_log.copy_(torch.log(a))  # (E, N): A = -[1, 2, ..., N] per channel (S4D-real)
            self.D.fill_(1.0)

    def parameters_from(self, source: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(Delta, B, C)`` of ``source`` ``(B, L, E)``: ``(B, L, E)``, ``(B, L, N)``, ``(B, L, N)`` (eq. 5)."""
        dt, b, c = self.x_proj(source).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.softplus(self.dt_proj(dt)), b, c

    def forward(self, u: Tensor, z: Tensor | None = None, source: Tensor | None = None) -> Tensor:
        delta, b, c = self.parameters_from(u if source is None else source)
        A = -torch.exp(self.A_log.float()).to(u.dtype)
        return selective_scan(u, delta, A, b, c, self.D.to(u.dtype), z, mode=self.scan_mode,  # type: ignore[arg-type]
                              chunk=self.chunk)


class CausalDepthwiseConv1d(nn.Module):
    """Depthwise 1-D conv along L of ``(B, L, E)``, left-padded by ``k - 1``: output t sees inputs <= t."""

    def __init__(self, *, width: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(width, width, kernel_size, groups=width, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x.transpose(1, 2), (self.kernel_size - 1, 0))
        return self.conv(x).transpose(1, 2)


def ssm_for(fields: S6Fields, *, width: int, d_model: int) -> SelectiveSSM:
    """A :class:`SelectiveSSM` of ``width`` channels from the S6 fields of a config (rank from ``d_model``)."""
    return SelectiveSSM(width=width, d_state=fields.d_state, dt_rank=resolve_dt_rank(fields.dt_rank, d_model),
                        dt_min=fields.dt_min, dt_max=fields.dt_max, scan_mode=fields.scan_mode, chunk=fields.chunk)


class S6Branch(nn.Module):
    """One scan direction of a selective mixer on ``(B, L, E)``: ``S6(SiLU(CausalConv(x)))`` (paper eqs. 6, 11
    without the gate). ``forward(x, gate=None)``; B, C, Delta come from the conv output or from ``x`` itself
    (``bcdt_from``)."""

    def __init__(self, fields: S6Fields, *, width: int, d_model: int) -> None:
        super().__init__()
        self.from_input = fields.bcdt_from == "input"
        self.conv = CausalDepthwiseConv1d(width=width, kernel_size=fields.d_conv, bias=fields.conv_bias)
        self.ssm = ssm_for(fields, width=width, d_model=d_model)

    def forward(self, x: Tensor, gate: Tensor | None = None) -> Tensor:
        return self.ssm(F.silu(self.conv(x)), gate, x if self.from_input else None)


class S6Block(nn.Module):
    """Mamba's block on ``(B, L, C)`` (paper eqs. 6-11 with a causal 1-D conv): ``in_proj`` C -> 2E,
    ``x_bar = SiLU(Conv(x))``, ``y = S6(x_bar) * SiLU(z)``, ``out_proj`` E -> C. Causal.

    ``S6Block(dim=..., **S6Fields)``: keyword-only, the fields of :class:`~forwardkit_mambamixer.config.S6Fields`."""

    def __init__(self, *, dim: int, **fields: Any) -> None:
        super().__init__()
        cfg = S6Fields(**fields)
        self.config = cfg
        width = cfg.expand * dim
        self.in_proj = nn.Linear(dim, 2 * width, bias=cfg.proj_bias)
        self.branch = S6Branch(cfg, width=width, d_model=dim)
        self.out_proj = nn.Linear(width, dim, bias=cfg.proj_bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"S6Block expects (B, L, C), got {tuple(x.shape)}")
        xs, z = self.in_proj(x).chunk(2, dim=-1)
        return self.out_proj(self.branch(xs, z))
