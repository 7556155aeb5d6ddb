"""The selective scan of S6 (paper §3.1, eq. 2 with Mamba's discretisation of eq. 3), in pure PyTorch.

For every sequence, channel ``e`` and state index ``n``::

    h_t = exp(Delta_t[e] A[e, n]) * h_{t-1} + Delta_t[e] B_t[n] u_t[e]      (B-bar u ~ Delta B u, Mamba)
    y_t[e] = sum_n C_t[n] h_t[e, n] + D[e] u_t[e]
    y_t <- y_t * SiLU(z_t)                                                   (when a gate z is given)

Two forms, which agree to float tolerance (tests/test_scan.py, values and both directions of gradient):

``sequential``  the paper-literal recurrence, one step per token (a Python loop of L steps);
``chunked``     the sequence cut into chunks of ``chunk`` steps: the recurrence runs inside every chunk at once
                from a zero state (``chunk`` steps, vectorised over the chunks), the chunk-end states are carried
                across chunks (``L / chunk`` steps), and each step then adds its chunk's entering state decayed
                by the cumulative decay product ``prod_{s <= t} exp(Delta_s A)`` (= ``exp`` of the cumulative
                log-decay, an exponent <= 0, so nothing overflows). About ``2 chunk + L / chunk`` Python steps
                instead of ``L``; work ``O(B L E N)``, linear in L.

No CUDA or Triton: the mamba-ssm kernels are not needed (nor installable here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SCAN_MODES", "selective_scan", "selective_scan_chunked", "selective_scan_sequential"]

SCAN_MODES = ("chunked", "sequential")


def _check(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> None:
    if u.dim() != 3 or delta.shape != u.shape:
        raise ValueError(f"u and delta must both be (B, L, E), got {tuple(u.shape)} and {tuple(delta.shape)}")
    bsz, length, width = u.shape
    if A.dim() != 2 or A.shape[0] != width:
        raise ValueError(f"A must be (E, N) with E={width}, got {tuple(A.shape)}")
    n = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t.shape != (bsz, length, n):
            raise ValueError(f"{name} must be (B, L, N) = {(bsz, length, n)}, got {tuple(t.shape)}")


def selective_scan_sequential(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """Paper eq. 2, literally, one step at a time: ``u, delta`` ``(B, L, E)``, ``A`` ``(E, N)``, ``B, C``
    ``(B, L, N)``; returns ``sum_n C_t[n] h_t[e, n]`` ``(B, L, E)`` (no D term, no gate)."""
    _check(u, delta, A, B, C)
    bsz, _, width = u.shape
    h = u.new_zeros(bsz, width, A.shape[1])
    out = []
    # unbind, not indexing: the backward of L index views would allocate L full-size gradients (O(L^2))
    for d_t, u_t, b_t, c_t in zip(delta.unbind(1), u.unbind(1), B.unbind(1), C.unbind(1), strict=True):
        a_bar = torch.exp(d_t[:, :, None] * A)  # (B, E, N): A-bar_t = exp(Delta_t A)
        bu = (d_t * u_t)[:, :, None] * b_t[:, None, :]  # (B, E, N): B-bar_t u_t
        h = a_bar * h + bu  # eq. 2, first line
        out.append((h * c_t[:, None, :]).sum(-1))  # eq. 2, second line: y_t = C_t h_t
    return torch.stack(out, dim=1)


def selective_scan_chunked(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk: int = 64) -> Tensor:
    """The same recurrence as :func:`selective_scan_sequential` in chunks of ``chunk`` steps (module docstring):
    ``(B, L, E)``, ``(E, N)``, ``(B, L, N)`` -> ``(B, L, E)``.

    Every Python step works on one position of all K chunks at once, ``(B, K, E, N)``, so nothing of size
    ``L E N`` is built outside the steps (the per-step tensors stay in cache; a whole-sequence tensor of that
    size would make the scan memory-bound)."""
    _check(u, delta, A, B, C)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    bsz, length, width = u.shape
    n = A.shape[1]
    size = min(chunk, length)
    count = math.ceil(length / size)
    pad = count * size - length
    if pad:  # Delta = 0 past the end: decay 1 and no input, the outputs there are dropped
        u, delta = F.pad(u, (0, 0, 0, pad)), F.pad(delta, (0, 0, 0, pad))
        B, C = F.pad(B, (0, 0, 0, pad)), F.pad(C, (0, 0, 0, pad))
    # step t of every chunk: (B, K, E) and (B, K, N) views; unbind, not indexing (see the sequential form).
    # States are kept (B, K, N, E), E innermost: no broadcast along the innermost axis, so every op vectorises.
    steps = list(zip(delta.view(bsz, count, size, width).unbind(2), u.view(bsz, count, size, width).unbind(2),
                     B.view(bsz, count, size, n, 1).unbind(2), C.view(bsz, count, size, n, 1).unbind(2),
                     strict=True))
    a_t = A.t()  # (N, E)
    state = u.new_zeros(bsz, count, n, width)
    decays, outputs = [], []
    for d_t, u_t, b_t, c_t in steps:  # inside every chunk, from a zero state
        d_t = d_t[:, :, None]
        decay = torch.exp(d_t * a_t)  # exp(Delta_t A), (B, K, N, E)
        state = torch.addcmul((d_t * u_t[:, :, None]) * b_t, decay, state)
        decays.append(decay)
        outputs.append((state * c_t).sum(2))
    if count > 1:
        outputs = _add_entering_states(state, decays, steps, outputs)
    y = torch.stack(outputs, dim=2)  # (B, K, T, E)
    return y.reshape(bsz, count * size, width)[:, :length]


def _add_entering_states(ends: Tensor, decays: list[Tensor], steps: Sequence[tuple[Tensor, ...]],
                         outputs: list[Tensor]) -> list[Tensor]:
    """Add to each step's output the state entering its chunk, decayed by the cumulative product of the
    chunk's decays up to that step: ``ends`` ``(B, K, N, E)`` (chunk-end states from a zero start)."""
    chunk_decay = decays[0]
    for decay in decays[1:]:
        chunk_decay = chunk_decay * decay  # the whole chunk's decay, prod_t exp(Delta_t A)
    carry = torch.zeros_like(ends[:, 0])
    entering = []
    for end_k, decay_k in zip(ends.unbind(1), chunk_decay.unbind(1), strict=True):
        entering.append(carry)  # the state entering chunk k (zero for the first)
        carry = torch.addcmul(end_k, decay_k, carry)
    start = torch.stack(entering, dim=1)  # (B, K, N, E)
    out = []
    for decay, (_, _, _, c_t), y_t in zip(decays, steps, outputs, strict=True):
        start = start * decay  # the entering state carried to step t: cumulative decay product
        out.append(y_t + (start * c_t).sum(2))
    return out


def _scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, mode: str, chunk: int) -> Tensor:
    if mode == "sequential":
        return selective_scan_sequential(u, delta, A, B, C)
    if mode == "chunked":
        return selective_scan_chunked(u, delta, A, B, C, chunk)
    raise ValueError(f"mode must be one of {SCAN_MODES}, got {mode!r}")


@torch.library.custom_op("mambamixer::selective_scan", mutates_args=())
def _scan_op(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, mode: str, chunk: int) -> Tensor:
    """The scan as one operator for graph capture (torch.export, torch.compile): the same Python function, so
    the captured graph holds one node per scan instead of its unrolled steps."""
    return _scan(u, delta, A, B, C, mode, chunk)


@_scan_op.register_fake
def _scan_fake(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, mode: str, chunk: int) -> Tensor:
    return u.new_empty(u.shape)


def _scan_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.save_for_backward(*inputs[:5])
    ctx.mode, ctx.chunk = inputs[5], inputs[6]


def _scan_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    """Gradients of the captured operator: the scan is run again with autograd and differentiated."""
    needs = ctx.needs_input_grad
    inputs = [t.detach().requires_grad_(need) for t, need in zip(ctx.saved_tensors, needs, strict=False)]
    with torch.enable_grad():
        y = _scan(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], ctx.mode, ctx.chunk)
    wanted = [t for t in inputs if t.requires_grad]
    found = iter(torch.autograd.grad(y, wanted, grad, allow_unused=True) if wanted else ())
    return (*(next(found) if t.requires_grad else None for t in inputs), None, None)


_scan_op.register_autograd(_scan_backward, setup_context=_scan_setup)


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    *,
    mode: Literal["chunked", "sequential"] = "chunked",
    chunk: int = 64,
) -> Tensor:
    """S6 (paper eq. 2): ``u, delta`` ``(B, L, E)`` (``delta`` already softplus'ed), ``A`` ``(E, N)`` (negative),
    ``B, C`` ``(B, L, N)``, ``D`` ``(E,)``, gate ``z`` ``(B, L, E)``; returns ``y`` ``(B, L, E)``,
    ``y = (scan + D u) * SiLU(z)``. ``mode`` picks the form (module docstring); both give the same values.

    Under graph capture (``torch.export``, ``torch.compile``) the scan is the single operator
    ``torch.ops.mambamixer.selective_scan`` running the same function; eagerly it is called directly."""
    if mode not in SCAN_MODES:
        raise ValueError(f"mode must be one of {SCAN_MODES}, got {mode!r}")
    if torch.compiler.is_compiling():
        y = _scan_op(u, delta, A, B, C, mode, chunk)
    else:
        y = _scan(u, delta, A, B, C, mode, chunk)
    if D is not None:
        y = y + u * D
    if z is not None:
        y = y * F.silu(z)
    return y
