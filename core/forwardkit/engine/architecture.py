"""Architecture records: how a model's structure departs from what its config builds (growth, pruning).

A module whose structure changes during training (a network that grows a layer or widens a block at an
epoch end) cannot be resumed from weights alone: the model the trainer rebuilds from the experiment has
the initial shapes, and the checkpoint's weights do not fit it. Such a module says what it became with
two optional methods, duck-typed (no base class needed)::

    def architecture_state(self) -> Mapping[str, Any] | None: ...   # plain data (JSON-able), or None
    def load_architecture_state(self, state: Mapping[str, Any]) -> None: ...  # rebuild that structure

``load_architecture_state`` only rebuilds modules and parameters of the right shapes (their values do
not matter); the weights are loaded afterwards. The trainer keeps :func:`architecture_state` of its model
in every checkpoint (``state.json``, key ``architecture``) and, on resume, applies it with
:func:`load_architecture_state` before anything else touches the model: before the callbacks'
``on_fit_start``, the learning rule's ``setup`` (so the optimizer is built over the grown parameters and
its saved state fits them) and the loading of the weights. A callback that changed the structure of a
plain model (one without these methods) re-applies its own recorded changes in ``Callback.on_resume``,
which the trainer calls right after.

Only the outermost modules that define both methods are asked (each owns its sub-tree), keyed by their
path in the model (``""`` for the model itself), so a growing network inside a wrapper (an adapter's
module, say) is found too. A checkpoint without the key (written before this existed, or by a model
that never changes) restores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

__all__ = ["architecture_state", "has_architecture_state", "load_architecture_state"]


def has_architecture_state(module: nn.Module) -> bool:
    """True when ``module`` defines both ``architecture_state`` and ``load_architecture_state``."""
    return callable(getattr(module, "architecture_state", None)) and \
        callable(getattr(module, "load_architecture_state", None))


def _owners(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The outermost modules of ``model`` (pre-order) that define the two methods, with their paths."""
    found: list[tuple[str, nn.Module]] = []
    for path, module in model.named_modules():
        if any(path == p or path.startswith(p + ".") or p == "" for p, _ in found):
            continue
        if has_architecture_state(module):
            found.append((path, module))
    return found


def architecture_state(model: nn.Module) -> dict[str, Any]:
    """``{module path: its architecture_state()}`` for every outermost module of ``model`` that records
    one (``None`` records are left out); ``{}`` for a model without any."""
    out: dict[str, Any] = {}
    for path, module in _owners(model):
        state = module.architecture_state()  # type: ignore[operator]
        if state is not None:
            out[path] = dict(state) if isinstance(state, Mapping) else state
    return out


def load_architecture_state(model: nn.Module, state: Mapping[str, Any]) -> list[str]:
    """Re-apply what :func:`architecture_state` recorded to a freshly built ``model`` (outer paths first,
    so a module the outer one rebuilds exists when its own record is applied); returns the paths applied.
    A path that no longer names a module that records its architecture is an error (``ValueError``).

    Parameters that a rebuild replaces keep the ``requires_grad`` flag of the parameter of the same name
    before it (what a stage froze stays frozen); new names keep their own."""
    trainable = {name: p.requires_grad for name, p in model.named_parameters()}
    applied = []
    for path in sorted(state, key=lambda p: (p.count(".") + (p != ""), p)):
        try:
            module = model.get_submodule(path) if path else model
        except AttributeError:
            raise ValueError(f"the checkpoint records the architecture of module {path!r}, which the model does "
                             "not have") from None
        if not has_architecture_state(module):
            raise ValueError(f"the checkpoint records the architecture of module {path or '(the model)'!r}, "
                             f"but {type(module).__name__} has no load_architecture_state()")
        module.load_architecture_state(state[path])  # type: ignore[operator]
        applied.append(path)
    for name, p in model.named_parameters():
        if name in trainable and p.requires_grad != trainable[name]:
            p.requires_grad_(trainable[name])
    return applied
