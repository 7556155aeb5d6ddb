"""Per-token linear projections of channels-last tokens ``(B, *spatial, C) -> (B, *spatial, O)``, dispatched to
the fastest CPU kernel.

``y = x W^T + b`` for every token (a Linear layer; equivalently a 1x1 convolution, the "pointwise
convolution" of separable convolutions and of MLPs written for NCHW images). :func:`pointwise_reference`
writes it as ``F.linear``; :func:`pointwise` computes the same with the kernel that :func:`pointwise_backend`
picks for the shape, dtype, device and thread count:

- ``"linear"``: ``F.linear`` on the ``(tokens, C)`` view (MKL's sgemm on the CPU, cuBLAS on GPUs);
- ``"conv1x1"``: a 1x1 ``F.conv2d`` on the ``(B, C, H, W)`` view of the tokens, whose strides are
  channels-last (oneDNN; no copy in or out, the bias fused into the GEMM and its gradient into the backward).

The two agree to float rounding (``tests/nn/test_pointwise.py``). :class:`Pointwise` is an
:class:`torch.nn.Linear` (same parameters, state_dict keys, initialisation and ``isinstance``) whose
forward is :func:`pointwise`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Pointwise", "PointwiseBackend", "pointwise", "pointwise_backend", "pointwise_reference"]

PointwiseBackend = Literal["linear", "conv1x1"]

#: Dispatch rule of :func:`pointwise_backend` on the CPU (float32), measured by ``benchmarks/cpu_kernels.py``
#: (kept in ``benchmarks/results/cpu_kernels.json``, piece ``pointwise``: forward+backward, interleaved, median
#: of repeats, on the channels-last tokens of the four MetaFormer stages at 224 px, batch 1-64, 1 and 2
#: threads, the MLP (C -> 4C -> C) and SepConv (C -> 2C -> C) projections, with and without a bias; torch
#: 2.13, Intel Xeon with AVX-512). oneDNN's 1x1 convolution is faster than MKL's sgemm when there are many
#: tokens and the narrow side of the projection is small (C = 64, 128: the 56x56 and 28x28 stages from batch
#: 16, and on two threads 56x56 at batch 8 too), by 6.5% on average and up to 34%; with few tokens or wide
#: projections (C = 320, 512: the 14x14 and 7x7 stages) sgemm is faster, by up to 47%, and 2.6x for one 7x7
#: image on two threads. A bias changes nothing measurable. So: the conv when ``min(C, O) <=
#: CONV1X1_MAX_NARROW``, there are at least ``CONV1X1_MIN_TOKENS`` tokens and, on one thread, a leading
#: (batch) axis of at least ``CONV1X1_MIN_BATCH_1_THREAD`` (one thread at 56x56 and batch 8, 25088 tokens, is
#: 1-29% faster on sgemm). Of the 240 measured cases the rule picks a kernel within 2% of the faster one in
#: 236, and within 5% in all. Widths between 128 and 320 were not measured and keep sgemm.
CONV1X1_MIN_TOKENS = 12_544
CONV1X1_MAX_NARROW = 128
CONV1X1_MIN_BATCH_1_THREAD = 16


def _tracing() -> bool:
    """Scripting, tracing, compiling or exporting: the graph takes the portable ``F.linear``."""
    exporting = getattr(torch.compiler, "is_exporting", None)
    return (torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()
            or bool(exporting is not None and exporting()))


def pointwise_backend(
    tokens: int,
    in_features: int,
    out_features: int,
    *,
    batch: int | None = None,
    threads: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> PointwiseBackend:
    """The kernel :func:`pointwise` uses for ``tokens`` rows (``batch`` of them along the leading axis;
    default: all) of ``in_features -> out_features`` with ``threads`` (default ``torch.get_num_threads()``):
    ``"conv1x1"`` only on the CPU in float32 under the measured rule of :data:`CONV1X1_MIN_TOKENS`, else
    ``"linear"``."""
    if torch.device(device).type != "cpu" or dtype != torch.float32 or not torch.backends.mkldnn.is_available():
        return "linear"
    if min(in_features, out_features) > CONV1X1_MAX_NARROW or tokens < CONV1X1_MIN_TOKENS:
        return "linear"
    n = threads if threads is not None else torch.get_num_threads()
    if n <= 1 and (batch if batch is not None else tokens) < CONV1X1_MIN_BATCH_1_THREAD:
        return "linear"
    return "conv1x1"


def pointwise_reference(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x W^T + b`` on the last axis of ``x`` ``(..., C)``, ``weight`` ``(O, C)``, ``bias`` ``(O,)`` or None:
    the projection written as ``F.linear``. Returns ``(..., O)``."""
    return F.linear(x, weight, bias)


def _conv1x1(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """:func:`pointwise` by oneDNN's 1x1 convolution on a channels-last ``(B, C, H, W)`` view of contiguous ``x``."""
    out_features, in_features = weight.shape
    if x.dim() == 4:
        view = x.movedim(-1, 1)  # (B, C, H, W), channels-last strides
    else:  # any other rank as (B, C, 1, N), again channels-last strides
        lead = x.shape[0] if x.dim() > 1 else 1
        view = x.reshape(lead, 1, -1, in_features).movedim(-1, 1)
    y = F.conv2d(view, weight.view(out_features, in_features, 1, 1), bias)  # channels-last output
    return y.movedim(1, -1).reshape(*x.shape[:-1], out_features)


def pointwise(x: Tensor, weight: Tensor, bias: Tensor | None = None, *,
              backend: PointwiseBackend | Literal["auto"] = "auto") -> Tensor:
    """``x W^T + b`` for every token of channels-last ``x`` ``(B, *spatial, C)`` (any shape ``(..., C)``):
    ``weight`` ``(O, C)``, ``bias`` ``(O,)`` or None; returns ``(B, *spatial, O)``, contiguous.

    ``backend="auto"`` picks the kernel with :func:`pointwise_backend` (``"linear"`` for a non-contiguous
    ``x`` and while tracing, compiling or exporting); ``"linear"`` / ``"conv1x1"`` force one. Both compute
    :func:`pointwise_reference` up to float rounding.
    """
    if backend == "auto":
        if x.dim() < 2 or not x.is_contiguous() or _tracing():
            backend = "linear"
        else:
            backend = pointwise_backend(x.numel() // x.shape[-1], weight.shape[1], weight.shape[0],
                                        batch=x.shape[0], dtype=x.dtype, device=x.device)
    if backend == "conv1x1":
        return _conv1x1(x.contiguous(), weight, bias)
    if backend != "linear":
        raise ValueError(f"unknown pointwise backend {backend!r}; choose 'auto', 'linear' or 'conv1x1'")
    return F.linear(x, weight, bias)


class Pointwise(nn.Linear):
    """A :class:`torch.nn.Linear` ``(in_features -> out_features)`` on the last axis of ``(B, *spatial, C)``
    whose forward is :func:`pointwise` (the kernel dispatched on the shape). Same parameters ``weight``
    ``(O, C)`` and ``bias`` ``(O,)``, state_dict keys and initialisation as ``nn.Linear``."""

    def forward(self, x: Tensor) -> Tensor:
        return pointwise(x, self.weight, self.bias)
