"""Measurement helpers shared by the trainer's leaderboard, compressors' reports and ``forwardkit bench``."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    """Multiply-accumulates of one call of ``fn`` (torch's FLOP counter, FLOPs / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=_cpu_attention_flops())
    with counter, torch.no_grad():
        fn()
    return int(counter.get_total_flops() // 2)


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


