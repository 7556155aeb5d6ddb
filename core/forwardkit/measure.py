"""Measurement helpers shared by the trainer's leaderboard, compressors' reports, ``forwardkit bench`` and
the plugins' cost benchmarks.

A cost claim is a ratio against a baseline measured in the same process: :func:`interleaved_ms` times
every candidate once per round (so a change of machine load hits all of them alike) and
:func:`median_ratios` pairs the rounds, ``median_i(t_name[i] / t_baseline[i])``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def state_bytes(model: nn.Module) -> int:
    """Bytes of the model's state dict serialised with safetensors (what a checkpoint costs on disk)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return len(save(tensors)) if tensors else 0


def count_macs(fn: Callable[[], Any]) -> int:
    """Multiply-accumulates of one call of ``fn`` (torch's FLOP counter, FLOPs / 2). The pointwise projections
    run on ``F.linear`` meanwhile, so a first call's timing of both kernels (:mod:`forwardkit.nn.projections`)
    is not counted as the model's work."""
    from torch.utils.flop_counter import FlopCounterMode

    from forwardkit.nn.projections import pointwise_kernel

    counter = FlopCounterMode(display=False, custom_mapping=_cpu_attention_flops())
    with counter, torch.no_grad(), pointwise_kernel("linear"):
        fn()
    return int(counter.get_total_flops() // 2)


def peak_memory_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated by one call of ``fn`` above what was held before it (activations, saved tensors,
    gradients; not the inputs that already existed): the largest running sum of the allocation (+) and free
    (-) events that ``torch.profiler`` records with ``profile_memory=True``, in time order. Run it apart from
    timed rounds (the profiler adds about a millisecond per call)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = prof.profiler.kineto_results.events()  # type: ignore[union-attr]
    running = peak = 0
    for _, nbytes in sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]"):
        running += nbytes
        peak = max(peak, running)
    return peak


def _cpu_attention_flops() -> dict[Any, Any]:
    """Formulas for the CPU flash-attention kernels, which torch's FLOP counter does not list.

    ``F.scaled_dot_product_attention`` dispatches to ``_scaled_dot_product_flash_attention_for_cpu`` on
    CPU; without these entries its ``O(N^2)`` cost would count as zero. Same formulas as the CUDA ops.
    """
    from torch.utils import flop_counter as fc

    def forward(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return int(fc.sdpa_flop_count(query, key, value))

    def backward(grad: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None,
                 **kwargs: Any) -> int:
        return int(fc.sdpa_backward_flop_count(grad, query, key, value))

    aten = torch.ops.aten
    mapping: dict[Any, Any] = {}
    for name, formula in (("_scaled_dot_product_flash_attention_for_cpu", forward),
                          ("_scaled_dot_product_flash_attention_for_cpu_backward", backward)):
        if hasattr(aten, name):
            mapping[getattr(aten, name)] = formula
    return mapping


def latency_ms(fn: Callable[[], Any], *, warmup: int = 2, repeats: int = 10) -> float:
    """Median wall time of ``fn()`` in milliseconds after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e3




def interleaved_ms(
    calls: Mapping[str, Callable[[], Any]],
    *,
    rounds: int = 15,
    warmup: int = 2,
    sync: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Wall time in milliseconds of every call in ``calls``, ``rounds`` times each, interleaved.

    Every round calls each entry once, in the given order on even rounds and reversed on odd ones (so no
    entry always runs right after the same neighbour); ``warmup`` untimed rounds come first. ``sync`` (e.g.
    ``torch.cuda.synchronize``) runs before each clock read. Returns ``{name: [ms per round]}``.
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds must be >= 1 and warmup >= 0, got rounds={rounds}, warmup={warmup}")
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + rounds):
        for name in names if i % 2 == 0 else reversed(names):
            if sync is not None:
                sync()
            start = time.perf_counter()
            calls[name]()
            if sync is not None:
                sync()
            if i >= warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    return times


def median_ratios(times: Mapping[str, Sequence[float]], baseline: str) -> dict[str, float]:
    """``median_i(times[name][i] / times[baseline][i])`` for every name: the paired, per-round ratio to the
    baseline (above 1: slower than the baseline). ``times`` as :func:`interleaved_ms` returns it."""
    if baseline not in times:
        raise KeyError(f"baseline {baseline!r} is not one of the timed names {sorted(times)}")
    base = times[baseline]
    out = {}
    for name, values in times.items():
        if len(values) != len(base):
            raise ValueError(f"{name!r} has {len(values)} rounds, the baseline {baseline!r} has {len(base)}")
        out[name] = statistics.median(t / b for t, b in zip(values, base, strict=True))
    return out


def medians(times: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """The median of every name's times."""
    return {name: statistics.median(values) for name, values in times.items()}


def save_report(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write a benchmark's ``result`` as indented JSON to ``path`` (parents created; written to a temporary
    file first and renamed, so an interrupted run never leaves half a report over a kept one)."""
    from forwardkit.engine.state import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path
