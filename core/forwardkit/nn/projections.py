"""Per-token linear projections of channels-last tokens ``(B, *spatial, C) -> (B, *spatial, O)``, on the CPU
kernel measured fastest for the shape on this machine.

``y = x W^T + b`` for every token (a Linear layer; equivalently a 1x1 convolution, the "pointwise
convolution" of separable convolutions and of MLPs written for NCHW images). :func:`pointwise_reference`
writes it as ``F.linear``; :func:`pointwise` computes the same with one of two kernels:

- ``"linear"``: ``F.linear`` on the ``(tokens, C)`` view (MKL's sgemm on the CPU, cuBLAS on GPUs);
- ``"conv1x1"``: a 1x1 ``F.conv2d`` on the ``(B, C, H, W)`` view of the tokens, whose strides are
  channels-last (oneDNN; no copy in or out, the bias fused into the GEMM and its gradient into the backward).

Which is faster depends on the processor, not only on the shape, so the choice is measured, as
``torch.backends.cudnn.benchmark`` does for convolutions. ``benchmarks/cpu_kernels.py`` timed both
(forward+backward, the MLP and SepConv projections of the four MetaFormer stages at 224 px, batch 1-64, 1 and
2 threads; ``benchmarks/results/cpu_kernels.json``): on an Intel Xeon with AVX-512 oneDNN's conv won by up to
34% at 56x56 and 28x28 (narrow C, many tokens) and sgemm won by up to 47% at 14x14 and 7x7; on an AMD EPYC
(``benchmarks/results/metaformer_speed.json``, after a rule fitted to the Xeon) the conv won at 14x14x320 and
7x7x512 too, by up to 39%. No fixed rule is right on both. So, on the CPU in float32 and for a projection of at
least :data:`MEASURE_MIN_MACS` multiply-adds, the first call of each (tokens, batch, C, O, bias, threads,
gradient) times both kernels on the call's own shapes (forward, and backward when a gradient is wanted;
interleaved, median of :data:`MEASURE_ROUNDS` or more; no random numbers drawn, no parameter or gradient touched)
and keeps the conv only if it is at least :data:`MEASURE_MARGIN` faster. Smaller projections, other dtypes
and devices, tracing, compiling and ``torch.use_deterministic_algorithms(True)`` take ``F.linear``.

The choices of a process are :func:`pointwise_choices`; the trainer keeps them in every checkpoint and
:func:`load_pointwise_choices` restores them on resume, so a resumed run computes with the kernels of the
run it continues. ``FORWARDKIT_POINTWISE=linear`` or ``=conv1x1`` (or :func:`pointwise_kernel` as a context
manager) forces one kernel. The two agree to float rounding (``tests/nn/test_pointwise.py``).
:class:`Pointwise` is an :class:`torch.nn.Linear` (same parameters, state_dict keys, initialisation and
``isinstance``) whose forward is :func:`pointwise`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Pointwise", "PointwiseBackend", "load_pointwise_choices", "pointwise", "pointwise_backend",
           "pointwise_choices", "pointwise_kernel", "pointwise_reference"]

PointwiseBackend = Literal["linear", "conv1x1"]
BACKENDS: tuple[str, ...] = get_args(PointwiseBackend)

#: projections with fewer multiply-adds (tokens * C * O) than this take ``F.linear`` unmeasured: well under a
#: millisecond, where timing both kernels costs more than the faster one could save
MEASURE_MIN_MACS = 1 << 25
#: timed rounds per kernel (after one warm-up call each), alternating the order: at least MEASURE_ROUNDS, more
#: (up to MEASURE_MAX_ROUNDS) while the rounds took less than MEASURE_BUDGET_S seconds
MEASURE_ROUNDS = 5
MEASURE_MAX_ROUNDS = 41
MEASURE_BUDGET_S = 0.25
#: the conv is kept only when its median is this much below F.linear's (F.linear is the portable default)
MEASURE_MARGIN = 0.01
#: at most this many shapes are measured per process (a stream of ever-new shapes then takes ``F.linear``)
MEASURE_MAX_SHAPES = 256
ENV = "FORWARDKIT_POINTWISE"

_choices: dict[str, PointwiseBackend] = {}
_forced: list[PointwiseBackend] = []


def _tracing() -> bool:
    """Scripting, tracing, compiling or exporting: the graph takes the portable ``F.linear``."""
    exporting = getattr(torch.compiler, "is_exporting", None)
    return (torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()
            or bool(exporting is not None and exporting()))


def _env_choice() -> PointwiseBackend | None:
    value = os.environ.get(ENV, "").strip()
    if value in ("", "measure"):
        return None
    if value not in BACKENDS:
        raise ValueError(f"{ENV}={value!r} is not a pointwise kernel; allowed: 'measure' (the default), "
                         "'linear', 'conv1x1'")
    return value  # type: ignore[return-value]


@contextmanager
def pointwise_kernel(backend: PointwiseBackend) -> Iterator[None]:
    """Within the block, every ``backend="auto"`` call of :func:`pointwise` uses ``backend`` (tests, and
    comparing the two kernels on a whole model)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown pointwise backend {backend!r}; choose 'linear' or 'conv1x1'")
    _forced.append(backend)
    try:
        yield
    finally:
        _forced.pop()


def _key(tokens: int, batch: int, in_features: int, out_features: int, bias: bool, threads: int,
         grad: bool) -> str:
    return f"t{tokens}/b{batch}/{in_features}x{out_features}/bias{int(bias)}/th{threads}/grad{int(grad)}"


def pointwise_choices() -> dict[str, PointwiseBackend]:
    """The kernels this process measured, by ``"t<tokens>/b<batch>/<C>x<O>/bias<0|1>/th<threads>/grad<0|1>"``."""
    return dict(_choices)


def load_pointwise_choices(choices: Mapping[str, str]) -> None:
    """Use these measured choices (from :func:`pointwise_choices` of an earlier process) instead of measuring
    again; unknown kernel names are refused."""
    bad = {k: v for k, v in choices.items() if v not in BACKENDS}
    if bad:
        raise ValueError(f"pointwise choices name unknown kernels {bad}; allowed: {', '.join(BACKENDS)}")
    _choices.update(choices)  # type: ignore[arg-type]


def _time_both(x: Tensor, weight: Tensor, bias: Tensor | None, grad: bool) -> dict[str, float]:
    """Median seconds of each kernel on detached copies of the call's tensors (forward, and backward with a
    constant output gradient when ``grad``); interleaved rounds, the order alternating."""
    with torch.enable_grad() if grad else torch.no_grad():
        xs = x.detach().requires_grad_(grad and x.requires_grad)
        ws = weight.detach().requires_grad_(grad)
        bs = None if bias is None else bias.detach().requires_grad_(grad)
        out_grad = None
        times: dict[str, list[float]] = {b: [] for b in BACKENDS}
        kernels: dict[str, Callable[[Tensor, Tensor, Tensor | None], Tensor]] = {
            "linear": pointwise_reference, "conv1x1": _conv1x1}
        rnd, spent = 0, 0.0
        while rnd <= MEASURE_ROUNDS or (spent < MEASURE_BUDGET_S and rnd <= MEASURE_MAX_ROUNDS):
            for name in (BACKENDS if rnd % 2 == 0 else BACKENDS[::-1]):
                start = time.perf_counter()
                y = kernels[name](xs, ws, bs)
                if grad:
                    if out_grad is None:
                        out_grad = torch.full_like(y, 1e-3)
                    y.backward(out_grad)
                if rnd:  # round 0 warms both up
                    times[name].append(time.perf_counter() - start)
                    spent += times[name][-1]
                ws.grad = None
                xs.grad = None
                if bs is not None:
                    bs.grad = None
            rnd += 1
    return {name: statistics.median(t) for name, t in times.items()}


def pointwise_backend(
    tokens: int,
    in_features: int,
    out_features: int,
    *,
    batch: int | None = None,
    threads: int | None = None,
    bias: bool = True,
    grad: bool = False,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> PointwiseBackend | None:
    """The kernel :func:`pointwise` uses for ``tokens`` rows (``batch`` along the leading axis; default: all)
    of ``in_features -> out_features`` with ``threads`` (default ``torch.get_num_threads()``): a forced one
    (:func:`pointwise_kernel`, ``FORWARDKIT_POINTWISE``), ``"linear"`` off the float32 CPU path, below
    :data:`MEASURE_MIN_MACS`, in deterministic mode or past :data:`MEASURE_MAX_SHAPES`, else the measured
    choice, or ``None`` when this shape has not been measured yet (:func:`pointwise` measures it then)."""
    if _forced:
        return _forced[-1]
    forced = _env_choice()
    if forced is not None:
        return forced
    if torch.device(device).type != "cpu" or dtype != torch.float32 or not torch.backends.mkldnn.is_available():
        return "linear"
    if tokens * in_features * out_features < MEASURE_MIN_MACS or torch.are_deterministic_algorithms_enabled():
        return "linear"
    n = threads if threads is not None else torch.get_num_threads()
    key = _key(tokens, batch if batch is not None else tokens, in_features, out_features, bias, n, grad)
    if key not in _choices and len(_choices) >= MEASURE_MAX_SHAPES:
        return "linear"
    return _choices.get(key)


def pointwise_reference(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x W^T + b`` on the last axis of ``x`` ``(..., C)``, ``weight`` ``(O, C)``, ``bias`` ``(O,)`` or None:
    the projection written as ``F.linear``. Returns ``(..., O)``."""
    return F.linear(x, weight, bias)


def _conv1x1(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """:func:`pointwise` by oneDNN's 1x1 convolution on a channels-last ``(B, C, H, W)`` view of contiguous ``x``."""
    out_features, in_features = weight.shape
    kernel = weight.view(out_features, in_features, 1, 1)
    if x.dim() == 4:  # (B, H, W, C) as (B, C, H, W) with channels-last strides, and back: views only
        # oneDNN answers channels-last, so the permuted output is contiguous already (no copy)
        return F.conv2d(x.permute(0, 3, 1, 2), kernel, bias).permute(0, 2, 3, 1).contiguous()
    lead = x.shape[0] if x.dim() > 1 else 1  # any other rank as (B, C, 1, N), again channels-last strides
    y = F.conv2d(x.reshape(lead, 1, -1, in_features).permute(0, 3, 1, 2), kernel, bias)
    return y.permute(0, 2, 3, 1).reshape(*x.shape[:-1], out_features)


def _auto(x: Tensor, weight: Tensor, bias: Tensor | None) -> PointwiseBackend:
    if x.dim() < 2 or not x.is_contiguous() or _tracing():
        return "linear"
    tokens, batch = x.numel() // x.shape[-1], x.shape[0]
    grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    choice = pointwise_backend(tokens, weight.shape[1], weight.shape[0], batch=batch, bias=bias is not None,
                               grad=grad, dtype=x.dtype, device=x.device)
    if choice is None:
        medians = _time_both(x, weight, bias, grad)
        choice = "conv1x1" if medians["conv1x1"] < (1 - MEASURE_MARGIN) * medians["linear"] else "linear"
        key = _key(tokens, batch, weight.shape[1], weight.shape[0], bias is not None, torch.get_num_threads(),
                   grad)
        _choices[key] = choice
    return choice


def pointwise(x: Tensor, weight: Tensor, bias: Tensor | None = None, *,
              backend: PointwiseBackend | Literal["auto"] = "auto") -> Tensor:
    """``x W^T + b`` for every token of channels-last ``x`` ``(B, *spatial, C)`` (any shape ``(..., C)``):
    ``weight`` ``(O, C)``, ``bias`` ``(O,)`` or None; returns ``(B, *spatial, O)``, contiguous.

    ``backend="auto"`` takes the kernel :func:`pointwise_backend` names, measuring the shape on its first call
    (``"linear"`` for a non-contiguous ``x`` and while tracing, compiling or exporting); ``"linear"`` /
    ``"conv1x1"`` force one. Both compute :func:`pointwise_reference` up to float rounding.
    """
    if backend == "auto":
        backend = _auto(x, weight, bias)
    if backend == "conv1x1":
        return _conv1x1(x.contiguous(), weight, bias)
    if backend != "linear":
        raise ValueError(f"unknown pointwise backend {backend!r}; choose 'auto', 'linear' or 'conv1x1'")
    return F.linear(x, weight, bias)


class Pointwise(nn.Linear):
    """A :class:`torch.nn.Linear` ``(in_features -> out_features)`` on the last axis of ``(B, *spatial, C)``
    whose forward is :func:`pointwise` (the kernel measured fastest for the shape). Same parameters ``weight``
    ``(O, C)`` and ``bias`` ``(O,)``, state_dict keys and initialisation as ``nn.Linear``."""

    def forward(self, x: Tensor) -> Tensor:
        return pointwise(x, self.weight, self.bias)
