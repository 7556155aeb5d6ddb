"""Reading a model's feature without changing the model: the input of a named module (a forward pre-hook)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.model import forward_batch


def feature_module(model: nn.Module, name: str) -> nn.Module | None:
    """The submodule ``name`` of ``model`` (a DDP wrapper's ``module.`` prefix is tried too); ``''``: None (the
    model's output is the feature). A missing name is a clear error."""
    if not name:
        return None
    inner = getattr(model, "module", None)
    for root in (model, inner) if isinstance(inner, nn.Module) else (model,):
        try:
            return root.get_submodule(name)
        except AttributeError:
            continue
    names = [n for n, _ in model.named_modules() if n][:12]
    raise ForwardkitError(f"feature_layer {name!r} is not a module of {type(model).__name__} (its modules: "
                          f"{', '.join(names)}{' ...' if len(names) == 12 else ''}); name the module whose input is "
                          "the feature (e.g. 'head'), or '' for the model's output")


def feature_dim(model: nn.Module, name: str) -> int | None:
    """D of the feature the tap reads, when the model says it (the module's ``in_features``), else None."""
    module = feature_module(model, name)
    if module is not None and isinstance(getattr(module, "in_features", None), int):
        return int(module.in_features)  # type: ignore[arg-type]
    return None


def tapped_forward(model: nn.Module, batch: Mapping[str, Tensor], name: str,
                   forward: Callable[[Mapping[str, Tensor]], Any] | None = None) -> tuple[Tensor, Any]:
    """``(feature (B, D), output)`` of one forward pass of ``batch`` (``forward``: e.g. ``ctx.run_forward``;
    default ``forward_batch(model, batch)``); the feature is the input of module ``name``, or the output for ''."""
    module = feature_module(model, name)
    run = forward if forward is not None else (lambda b: forward_batch(model, b))
    if module is None:
        out = run(batch)
        if not isinstance(out, Tensor):
            raise ForwardkitError(f"feature_layer '': the model's output is a {type(out).__name__}, not a tensor")
        return out.flatten(1), out
    seen: list[Tensor] = []

    def grab(_module: nn.Module, args: tuple[Any, ...]) -> None:
        seen.append(args[0])

    handle = module.register_forward_pre_hook(grab)
    try:
        out = run(batch)
    finally:
        handle.remove()
    if not seen:
        raise ForwardkitError(f"feature_layer {name!r} was not called by the model's forward")
    return seen[-1].flatten(1), out
