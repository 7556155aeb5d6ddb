"""``check_export``: the component exports (``torch.export``, and ONNX where declared) and the exported
program computes what the eager module does.

Applies to token mixers, channel mixers and models. For the first :data:`EXPORT_CONFIGS` configs
checked (``conformance_configs`` or the defaults) the component is built under seed 0 and put in eval
mode; a mixer is exported on the kit's explicit input of one supported rank (rank 2 when supported,
batch 2), a model on ``example_batch(2)`` fed to ``forward_batch`` (the batch's tensors become the
program's inputs, in the batch's key order). The exported program is then run on that input and on
another of the same shape, and must give the eager outputs within :data:`TORCH_TOLERANCE` (the exported
program runs the same ATen kernels, so they agree to rounding).

A component that declares ``export_formats = ("torch", "onnx")`` is also converted to ONNX from the
same exported program (``torch.onnx.export(program, dynamo=True)``, which needs ``onnxscript``) and run
by onnxruntime on both inputs, within :data:`ONNX_TOLERANCE` (onnxruntime's kernels differ from
torch's). Without ``onnx``/``onnxscript``/``onnxruntime`` installed (``pip install forwardkit[test]``)
the check says so and is skipped after the ``torch.export`` part passed.

A component that cannot be exported by design (data-dependent control flow such as a top-k token
selection whose count follows the input, Python-side graph bookkeeping) declares it:
``expected_failures = {"check_export": "why"}``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import logging
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces.model import forward_batch
from forwardkit.testing import strategies as fks
from forwardkit.testing.checks.common import SkipCheck, Subject, conformance_check, fail
from forwardkit.testing.checks.declarations import EXPORT_FORMATS, MIXERS
from forwardkit.testing.checks.helpers import describe_config, example_batch, max_diff, seeded, tensors

__all__ = [
    "EXPORT_CONFIGS",
    "EXPORT_FORMATS",
    "ONNX_TOLERANCE",
    "TORCH_TOLERANCE",
    "check_export",
    "declared_formats",
    "onnx_missing",
]

#: how many of the checked configs are exported (export is slow: about a second each)
EXPORT_CONFIGS = 2
#: exported program vs eager: ``atol`` is scaled by ``max(1, max |eager|)``
TORCH_TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
#: onnxruntime vs eager: ``atol`` is scaled by ``max(1, max |eager|)``
ONNX_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
#: the modules the ONNX part needs
ONNX_MODULES = ("onnx", "onnxscript", "onnxruntime")


def declared_formats(cls: Any) -> tuple[str, ...]:
    """The formats ``cls`` declares in ``export_formats`` (default ``("torch",)``)."""
    declared = getattr(cls, "export_formats", None)
    return tuple(declared) if declared else ("torch",)


def onnx_missing() -> list[str]:
    """The modules of :data:`ONNX_MODULES` that are not installed."""
    return [name for name in ONNX_MODULES if importlib.util.find_spec(name) is None]


class _Positional(nn.Module):
    """A model called as ``forward_batch(model, batch)`` with the batch's tensors given positionally
    (what ``torch.export`` traces)."""

    def __init__(self, model: nn.Module, keys: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.keys = list(keys)

    def forward(self, *values: Tensor) -> Any:
        return forward_batch(self.model, dict(zip(self.keys, values, strict=True)))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _short(exc: BaseException, limit: int = 400) -> str:
    """``Type: first line of the message`` (the exporters' messages run to pages); for the ONNX
    exporter's, the first cause of its exception summary."""
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).strip().splitlines() if line.strip()]
    causes = [line for line in lines if line.startswith("<class '")]
    if causes:  # torch.onnx's "## Exception summary": "<class '...DispatchError'>: No ONNX function found ..."
        kind, _, text = causes[0].partition(">: ")
        return f"{kind.removeprefix('<class ').strip(chr(39)).rpartition('.')[2]}: {text[:limit]}"
    text = lines[0] if lines else ""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_NOISY_LOGGERS = (
    "torch.onnx",
    "torch.export",
    "torch._export",
    "torch._dynamo",
    "torch.fx.experimental.symbolic_shapes",
    "onnxscript",
    "onnx_ir",
)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' warnings, log lines and progress prints."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


Case = tuple[nn.Module, tuple[Tensor, ...], tuple[Tensor, ...]]


def _mixer_case(subject: Subject, config: Mapping[str, Any]) -> Case:
    """The mixer in eval mode and two inputs of one supported shape (rank 2 first)."""
    from forwardkit.testing.checks.mixers import case_config, mixer_dim, supports

    cases = fks.explicit_mixer_cases(subject, configs_=[dict(config)], batch=2)
    cases.sort(key=lambda c: (c.rank != 2, c.rank))
    for case in cases:
        try:
            mixer = seeded(0, functools.partial(subject.build, case_config(subject, case)))
        except Exception as exc:
            fail(f"cannot build {subject.label} from {describe_config(config)}: {_short(exc)}")
        if supports(mixer, case.spatial):
            dim = mixer_dim(mixer)
            return mixer.eval(), (case.tokens(dim),), (case.tokens(dim, offset=1),)
    fail(f"supports() refuses every canonical shape ({[c.spatial for c in cases]}): nothing to export")


def _model_case(subject: Subject, config: Mapping[str, Any]) -> Case:
    """The model (called through ``forward_batch``) in eval mode and two example batches."""
    from forwardkit.testing.checks.models import build_model

    model = build_model(subject, config)
    first, second = example_batch(model, 2, 0), example_batch(model, 2, 1)
    if list(first) != list(second) or any(first[k].shape != second[k].shape for k in first):
        second = first  # the example batches differ in structure: check the one input
    return _Positional(model, list(first)).eval(), tuple(first.values()), tuple(second[k] for k in first)


def _eager(module: nn.Module, inputs: tuple[Tensor, ...]) -> list[Tensor]:
    with torch.no_grad():
        return [t.detach().clone() for t in tensors(module(*inputs))]


def _assert_matches(got: Any, ref: Sequence[Tensor], what: str, tol: Mapping[str, float]) -> None:
    out = tensors(got)
    if len(out) != len(ref):
        fail(f"{what}: {len(out)} output tensor(s), the eager module gives {len(ref)}")
    for i, (a, b) in enumerate(zip(out, ref, strict=True)):
        where = f" (output tensor {i})" if len(ref) > 1 else ""
        a = a.detach().to("cpu")
        if a.shape != b.shape or a.dtype != b.dtype:
            fail(f"{what}{where}: shape/dtype {tuple(a.shape)}/{a.dtype}, the eager module gives "
                 f"{tuple(b.shape)}/{b.dtype}")
        if not (b.is_floating_point() or b.is_complex()):
            if not torch.equal(a, b):
                fail(f"{what}{where}: integer outputs differ from the eager module's")
            continue
        scale = max(1.0, float(b.abs().max())) if b.numel() else 1.0
        if not torch.allclose(a, b, rtol=tol["rtol"], atol=tol["atol"] * scale, equal_nan=True):
            fail(f"{what}{where}: outputs differ from the eager module's (max abs diff {max_diff(a, b):.3g}, "
                 f"largest eager value {scale:.3g})")


def _torch_export(module: nn.Module, inputs: tuple[Tensor, ...], where: str) -> Any:
    try:
        with _quiet():
            return torch.export.export(module, inputs)
    except Exception as exc:
        fail(f"torch.export.export failed ({where}): {_short(exc)}; a component that cannot be exported by "
             "design declares expected_failures = {'check_export': 'why'}")


def _onnx_run(program: Any, pairs: Sequence[tuple[tuple[Tensor, ...], list[Tensor]]], where: str) -> None:
    try:
        with _quiet():
            onnx_program = torch.onnx.export(program, (), dynamo=True, verbose=False)
    except Exception as exc:
        fail(f"declares ONNX export, but torch.onnx.export failed ({where}): {_short(exc)}")
    if onnx_program is None:
        fail(f"declares ONNX export, but torch.onnx.export returned no program ({where})")
    for i, (inputs, ref) in enumerate(pairs):
        try:
            with _quiet():
                got = onnx_program(*inputs)
        except Exception as exc:
            fail(f"declares ONNX export, but onnxruntime cannot run the exported model ({where}): {_short(exc)}")
        _assert_matches(got, ref, f"ONNX (onnxruntime) on input {i} ({where})", ONNX_TOLERANCE)


@conformance_check(*MIXERS, "model")
def check_export(subject: Subject, *, configs: Any = None) -> int:
    """``torch.export.export`` of the component in eval mode (a mixer on one explicit input, a model on
    ``forward_batch(example_batch(2))``) succeeds and the exported program gives the eager outputs, on
    that input and on another of the same shape; with ``export_formats`` naming ``onnx``, so does the
    ONNX model run by onnxruntime."""
    formats = declared_formats(subject.cls)
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or "torch" not in formats:
        fail(f"export_formats must name 'torch' and only formats of {list(EXPORT_FORMATS)}, got {list(formats)}")
    missing = onnx_missing() if "onnx" in formats else []
    case_of = _model_case if subject.kind == "model" else _mixer_case
    checked = 0
    for config in subject.configs(configs)[:EXPORT_CONFIGS]:
        module, inputs, other = case_of(subject, config)
        where = describe_config(config)
        pairs = [(inputs, _eager(module, inputs)), (other, _eager(module, other))]
        program = _torch_export(module, inputs, where)
        exported = program.module()
        for i, (args, ref) in enumerate(pairs):
            with torch.no_grad():
                try:
                    got = exported(*args)
                except Exception as exc:
                    fail(f"the exported program cannot run on input {i} ({where}): {_short(exc)}")
            _assert_matches(got, ref, f"torch.export program on input {i} ({where})", TORCH_TOLERANCE)
        if "onnx" in formats and not missing:
            _onnx_run(program, pairs, where)
        checked += 1
    if missing and checked:
        raise SkipCheck(
            f"torch.export checked on {checked} config(s) and matches eager, but ONNX is declared and "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed (pip install "
            "'forwardkit[test]'), so the ONNX export was not checked"
        )
    return checked
