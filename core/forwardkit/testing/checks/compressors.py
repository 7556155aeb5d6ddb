"""Checks of compressors: the report tells the truth (the kit measures again, :func:`measure_model`) and
the compressed model is called like the original."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.testing import toys
from forwardkit.testing.checks.common import Subject, conformance_check, fail
from forwardkit.testing.checks.helpers import (
    describe_config,
    example_batch,
    fresh_model,
    model_input,
    non_finite,
    seeded,
    tensors,
)

__all__ = ["check_compressor_report", "check_compressor_signature", "measure_model"]


def _unique_tensors(model: nn.Module) -> list[Tensor]:
    seen, out = set(), []
    for t in model.state_dict().values():
        if isinstance(t, Tensor):
            key = (t.data_ptr(), t.numel(), t.dtype)
            if key not in seen:
                seen.add(key)
                out.append(t)
    return out


def measure_model(model: nn.Module) -> dict[str, Any]:
    """What the kit measures on a model to compare with a compressor's report.

    ``parameters``: elements of ``model.parameters()``; ``nonzero_parameters``: the non-zero ones;
    ``tensor_bytes``: bytes of the unique tensors of the state_dict (what safetensors stores, without
    its header); ``torch_save_bytes``: size of ``torch.save(state_dict)``; ``safetensors_bytes``: size of
    the safetensors serialisation (None if it cannot serialise the state).
    """
    params = list({id(p): p for p in model.parameters()}.values())
    unique = _unique_tensors(model)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    safe: int | None
    try:
        from safetensors.torch import save

        safe = len(save({k: v.contiguous() for k, v in model.state_dict().items() if isinstance(v, Tensor)}))
    except Exception:
        safe = None
    return {
        "parameters": sum(p.numel() for p in params),
        "nonzero_parameters": sum(int(torch.count_nonzero(p)) for p in params),
        "tensor_bytes": sum(t.numel() * t.element_size() for t in unique),
        "torch_save_bytes": buffer.getbuffer().nbytes,
        "safetensors_bytes": safe,
    }


def _compare_figures(reported: Any, measured: Mapping[str, Any], which: str, where: str) -> None:
    params = getattr(reported, "parameters", None)
    size = getattr(reported, "bytes", None)
    if not isinstance(params, int) or isinstance(params, bool) or not isinstance(size, int) or isinstance(size, bool):
        fail(f"report.{which} must hold int 'parameters' and 'bytes', got {reported!r} ({where})")
    allowed = {measured["parameters"], measured["nonzero_parameters"]}
    if params not in allowed:
        fail(
            f"report.{which}.parameters = {params}, but the kit measures {measured['parameters']} parameters "
            f"({measured['nonzero_parameters']} non-zero) on the {which} model ({where})"
        )
    candidates = [
        measured[k] for k in ("tensor_bytes", "torch_save_bytes", "safetensors_bytes") if measured[k] is not None
    ]
    if not any(abs(size - c) <= 0.01 * c + 64 for c in candidates):
        fail(
            f"report.{which}.bytes = {size}, but the kit measures {measured['tensor_bytes']} tensor bytes, "
            f"{measured['torch_save_bytes']} with torch.save, {measured['safetensors_bytes']} with safetensors "
            f"on the {which} model ({where})"
        )


@dataclass
class _Compressed:
    """One compression run: the returned model and report, the original's figures, output and input."""

    model: nn.Module
    report: Any
    before: dict[str, Any]
    before_out: Any
    x: Tensor
    where: str


def _compress(subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module]) -> _Compressed:
    model = fresh_model(label, factory)
    model.eval()
    data = [example_batch(model, 4, s) for s in (0, 1)]
    x = model_input(model, data[0])
    with torch.no_grad():
        before_out = model(x)
    before = measure_model(model)
    compressor = seeded(0, lambda: subject.build(config))
    where = f"on model {label}, {describe_config(config)}"
    try:
        result = compressor.compress(model, data)
    except Exception as exc:
        fail(f"compress() raised {type(exc).__name__}: {exc} ({where})")
    if not isinstance(result, tuple) or len(result) != 2:
        fail(f"compress() must return (model, report), got {type(result).__name__} ({where})")
    new, report = result
    if not isinstance(new, nn.Module):
        fail(f"compress() returned a {type(new).__name__} as the model, not an nn.Module ({where})")
    return _Compressed(new, report, before, before_out, x, where)


def _report_case(run: _Compressed) -> None:
    from forwardkit.interfaces.compressor import CompressionReport

    if not isinstance(run.report, CompressionReport):
        fail(f"compress() must return a CompressionReport, got {type(run.report).__name__} ({run.where})")
    _compare_figures(run.report.before, run.before, "before", run.where)
    _compare_figures(run.report.after, measure_model(run.model), "after", run.where)


@conformance_check("compressor")
def check_compressor_report(subject: Subject, *, configs: Any = None, models: Any = None) -> int:
    """The report's ``before``/``after`` figures match what the kit measures again on the given and the
    returned model (parameters: total or non-zero; bytes: within 1% of the tensor, torch.save or
    safetensors size; see :func:`measure_model`)."""
    checked = 0
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            _report_case(_compress(subject, config, label, factory))
            checked += 1
    return checked


def _signature_case(run: _Compressed) -> None:
    run.model.eval()
    with torch.no_grad():
        try:
            after = run.model(run.x)
        except Exception as exc:
            fail(f"the compressed model cannot be called like the original: {type(exc).__name__}: {exc} ({run.where})")
    a, b = [tuple(t.shape) for t in tensors(run.before_out)], [tuple(t.shape) for t in tensors(after)]
    if a != b:
        fail(f"output shapes changed from {a} to {b} ({run.where})")
    if non_finite(after):
        fail(f"the compressed model gives non-finite outputs ({run.where})")


@conformance_check("compressor")
def check_compressor_signature(subject: Subject, *, configs: Any = None, models: Any = None) -> int:
    """The compressed model is called like the original: the same input gives finite outputs of the
    same shapes."""
    checked = 0
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            _signature_case(_compress(subject, config, label, factory))
            checked += 1
    return checked
