"""``trainer.compile`` and ``forwardkit bench --compile``: a model's forward through :func:`torch.compile`.

:func:`compile_forward` checks first that compiling can work here (a platform torch.compile supports and,
for the CPU, a C++ compiler for inductor's generated code) and raises a :class:`~forwardkit.errors.ForwardkitError`
naming the reason otherwise; the callable it returns turns a failure of the compiler itself during the first
calls (compilation is lazy) into the same kind of error. Either message says how to run without compiling.
The compiled callable wraps the module; the module itself (its parameters, its ``state_dict`` keys) is
unchanged, so checkpoints never hold ``_orig_mod.`` keys.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from forwardkit.errors import ForwardkitError

__all__ = ["BatchForward", "CompiledForward", "compile_forward", "compile_unavailable"]

#: how to do without, per caller
HINTS = {"trainer": "set trainer.compile: false (the default) to run eagerly",
         "bench": "run without --compile to measure the eager model"}


class BatchForward(nn.Module):
    """``model.forward_batch(batch)`` as a module's ``forward`` (what DDP and torch.compile wrap)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any) -> Any:
        from forwardkit.interfaces.model import forward_batch

        return forward_batch(self.model, batch)


def compile_unavailable(device: torch.device | str = "cpu") -> str | None:
    """Why :func:`torch.compile` cannot work on ``device`` here, or None when it can."""
    try:
        import torch._dynamo as dynamo
    except Exception as exc:  # a torch build without dynamo
        return f"this torch ({torch.__version__}) has no torch.compile ({type(exc).__name__}: {exc})"
    supported = getattr(dynamo, "is_dynamo_supported", None)
    if supported is not None and not supported():
        return (f"torch.compile does not support this platform (Python {sys.version.split()[0]} on {sys.platform}, "
                f"torch {torch.__version__})")
    if torch.device(device).type == "cpu":
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler

            get_cpp_compiler()
        except Exception as exc:
            return ("torch.compile's CPU backend (inductor) compiles generated C++ and found no C++ compiler "
                    f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); "
                    "install g++ or clang++, or point the CXX environment variable at one")
    return None


def _compiler_errors() -> tuple[type[BaseException], ...]:
    """The exceptions raised by the compiler itself (not by the model's own code)."""
    found: list[type[BaseException]] = []
    try:
        from torch._dynamo import exc as dynamo_exc

        found.append(dynamo_exc.BackendCompilerFailed)
    except Exception:
        pass
    try:
        from torch._inductor import exc as inductor_exc

        found += [getattr(inductor_exc, n) for n in ("InductorError", "CppCompileError", "InvalidCxxCompiler")
                  if hasattr(inductor_exc, n)]
    except Exception:
        pass
    return tuple(found)


class CompiledForward:
    """``torch.compile(module)`` as a callable; a failure of the compiler becomes a ForwardkitError."""

    def __init__(self, module: nn.Module, *, hint: str, what: str) -> None:
        self.module = module
        # static shapes: a run sees a handful of batch shapes (train, the last smaller batch, evaluation), each
        # compiled once; inductor's automatic dynamic shapes fail on channels-last strides in torch 2.13
        # ("cannot determine truth value of Relational" in its stride ordering; benchmarks/compile_speedup.py)
        self.compiled = torch.compile(module, dynamic=False)
        self.hint, self.what = hint, what
        self._errors = _compiler_errors()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.compiled(*args, **kwargs)
        except self._errors as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ForwardkitError(f"{self.what}: torch.compile failed to compile the model's forward "
                                  f"({type(exc).__name__}: {first}); {self.hint}") from exc


def compile_forward(module: nn.Module, *, device: torch.device | str, caller: str = "trainer") -> Callable[..., Any]:
    """``module``'s forward through :func:`torch.compile`; a ForwardkitError when that cannot work here.

    ``caller`` (``"trainer"`` or ``"bench"``) picks the advice in the message."""
    what = "trainer.compile" if caller == "trainer" else "--compile"
    reason = compile_unavailable(device)
    if reason is not None:
        raise ForwardkitError(f"{what}: {reason}; {HINTS[caller]}")
    return CompiledForward(module, hint=HINTS[caller], what=what)
