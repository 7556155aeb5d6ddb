"""Embeddings of any model version for retrieval and for the rules' frozen references.

* a model with a :class:`~forwardkit_bt2.basis_transform.BasisTransformHead`: its deployed embedding ``phi``
  ``(B, d_new + k)``, not re-normalised (official evaluation; ``|phi|^2 = 1 + C^2``);
* any other model: the input of its classifier (the last ``nn.Linear``, or ``head``), L2-normalised, as the
  official ``build_feature_dict`` does with a backbone's ``(logits, feature)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from forwardkit_bt2.basis_transform import BTOutput, find_head, find_linear


@contextmanager
def classifier_input(model: nn.Module, head: str | None = None) -> Iterator[Callable[[], Tensor]]:
    """While active, the input of ``model``'s classifier at the last forward is ``get()`` (graph kept)."""
    _, linear = find_linear(model, head)
    seen: list[Tensor] = []

    def hook(_module: nn.Module, args: tuple[Tensor, ...]) -> None:
        seen[:] = [args[0]]

    handle = linear.register_forward_pre_hook(hook)

    def get() -> Tensor:
        if not seen:
            raise RuntimeError("the model's classifier did not run")
        return seen[0].reshape(seen[0].shape[0], -1)

    try:
        yield get
    finally:
        handle.remove()


def embed(model: nn.Module, x: Tensor) -> Tensor:
    """The retrieval embedding of ``x`` under ``model`` (see the module docstring): ``(B, D)``."""
    head = find_head(model)
    if head is not None:
        model(x)
        assert head.last is not None
        return head.last.phi
    with classifier_input(model) as get:
        model(x)
        return F.normalize(get(), dim=1)


def bt_parts(model: nn.Module, x: Tensor) -> BTOutput:
    """The head's :class:`BTOutput` for ``x`` (the model must hold a BasisTransformHead)."""
    head = find_head(model)
    if head is None:
        raise TypeError(f"{type(model).__name__} has no BasisTransformHead")
    model(x)
    assert head.last is not None
    return head.last


@torch.no_grad()
def embed_frozen(model: nn.Module, x: Tensor) -> Tensor:
    """:func:`embed` in eval mode, without gradients, with the orthogonal maps computed once (the mode is
    restored afterwards)."""
    was = model.training
    model.eval()
    try:
        with parametrize.cached():
            return embed(model, x)
    finally:
        model.train(was)
