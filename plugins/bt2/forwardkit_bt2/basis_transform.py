"""The basis transformation of BT^2 (Zhou et al., ICCV 2023, sec. 3; official ``ResNet_ortho.forward``).

A backbone gives ``e`` ``(B, d_new + d_old)``. The head computes (card "Mechanism", steps 2-6):

    a   = fc3(ReLU(e))                      (B, d_old)   the old branch
    f   = e[:, :d_new]                      (B, d_new)   the new feature
    a, f <- a / |a|, f / |f|                (norm_feature)
    u   = [normalize(a[:, :k]), O_p (C f)]  (B, k + d_new)
    bct = O_2 u[:, :d_old]                  (B, d_old)   compatible with the old embedding space
    extra = u[:, d_old:]                    (B, d_new + k - d_old)
    phi = [bct, extra]                      (B, d_new + k)  the deployed embedding, |phi|^2 = 1 + C^2
    logits = W f                            (B, num_classes)

``O_p`` and ``O_2`` are orthogonal matrices (``torch.nn.utils.parametrizations.orthogonal`` on bias-free Linears),
so ``phi`` loses nothing of ``f``: ``f = O_p^T [O_2^T bct, extra][k:] / C`` (:func:`recover_new_feature`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import orthogonal

from forwardkit.errors import ConfigError, ConfigIssue
from forwardkit.interfaces import Adapter
from forwardkit_bt2.config import BasisTransformHeadConfig


class BTOutput(NamedTuple):
    """What the head computes for a batch: ``logits`` ``(B, K)``, ``bct`` ``(B, d_old)``, ``f`` ``(B, d_new)``
    (normalised when ``norm_feature``), ``phi`` ``(B, d_new + k)`` (the deployed embedding)."""

    logits: Tensor
    bct: Tensor
    f: Tensor
    phi: Tensor


def basis_transform(a: Tensor, f: Tensor, rot_p: Tensor, rot_old: Tensor, *, to_add: int, d_old: int, C: float,
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """Steps 4-6 of the mechanism on already-normalised pieces (paper sec. 3.2, "basis transformation").

    ``a`` ``(B, >= k)`` old-branch output, ``f`` ``(B, d_new)`` new feature, ``rot_p`` ``(d_new, d_new)`` and
    ``rot_old`` ``(d_old, d_old)`` orthogonal matrices (applied as ``x @ R^T``, as ``nn.Linear`` does).
    Returns ``bct`` ``(B, d_old)``, ``extra`` ``(B, d_new + k - d_old)`` and ``phi = [bct, extra]``.
    """
    pieces = [F.normalize(a[:, :to_add], dim=1)] if to_add > 0 else []
    u = torch.cat([*pieces, (C * f) @ rot_p.T], dim=1)  # (B, k + d_new)
    bct = u[:, :d_old] @ rot_old.T
    extra = u[:, d_old:]
    return bct, extra, torch.cat([bct, extra], dim=1)


def recover_new_feature(phi: Tensor, rot_p: Tensor, rot_old: Tensor, *, to_add: int, d_old: int, C: float) -> Tensor:
    """Invert the transformation: ``phi`` ``(B, d_new + k)`` -> ``f`` ``(B, d_new)`` (the information argument of
    sec. 3.2: orthonormal maps lose nothing). ``u = [O_2^T bct, extra]``, ``f = O_p^T u[:, k:] / C``."""
    bct, extra = phi[:, :d_old], phi[:, d_old:]
    u = torch.cat([bct @ rot_old, extra], dim=1)
    return (u[:, to_add:] @ rot_p) / C


class BasisTransformHead(nn.Module):
    """The head that replaces a classifier: ``e`` ``(B, in_features)`` -> ``logits`` ``(B, num_classes)``.

    Every forward also stores its :class:`BTOutput` in ``self.last`` (the rules and the retrieval analyzer read
    ``bct``, ``f`` and ``phi`` from there), so the model keeps the classifier's call signature. When
    ``in_features`` differs from ``d_new + d_old`` a Linear ``proj`` maps the backbone's feature to ``e`` first
    (the card's reference composition: "GAP -> Linear to 2 x 32"). In eval mode without gradients the two
    orthogonal matrices are computed once and reused until a parameter changes (card "Performance notes": the
    parametrisation costs a matrix exponential per forward otherwise).
    """

    def __init__(self, config: BasisTransformHeadConfig, *, in_features: int, num_classes: int) -> None:
        super().__init__()
        cfg = self.config = config
        width = cfg.d_new + cfg.d_old
        self.proj = nn.Linear(in_features, width) if in_features != width else None
        branch = max(cfg.d_old, cfg.to_add)  # a[:, :k] must exist (to_add > d_old is warned about in the config)
        self.old_branch: nn.Module = (nn.Linear(width, branch) if cfg.old_branch == "linear"
                                      else nn.Conv2d(width, branch, kernel_size=1))
        kwargs: dict[str, Any] = {} if cfg.orthogonal_map is None else {"orthogonal_map": cfg.orthogonal_map}
        self.rot_p = orthogonal(nn.Linear(cfg.d_new, cfg.d_new, bias=False), **kwargs)
        self.rot_old = orthogonal(nn.Linear(cfg.d_old, cfg.d_old, bias=False), **kwargs)
        self.classifier = nn.Linear(cfg.d_new, num_classes, bias=False)
        self.last: BTOutput | None = None
        self._eval_cache: tuple[tuple[int, ...], Tensor, Tensor] | None = None

    @property
    def embed_dim(self) -> int:
        """Width of the deployed embedding ``phi``: ``d_new + k``."""
        return self.config.d_new + self.config.to_add

    def _originals(self) -> list[Tensor]:
        return [t for m in (self.rot_p, self.rot_old) for t in m.parameters()]

    def _weights(self) -> tuple[Tensor, Tensor]:
        rot_p, rot_old = self.rot_p.weight, self.rot_old.weight
        assert isinstance(rot_p, Tensor) and isinstance(rot_old, Tensor)
        return rot_p, rot_old

    def rotations(self) -> tuple[Tensor, Tensor]:
        """``(O_p, O_2)``: ``(d_new, d_new)`` and ``(d_old, d_old)`` orthogonal matrices (cached in eval mode
        without gradients, keyed by the parameters' version counters)."""
        cacheable = not self.training and not torch.is_grad_enabled() and not torch.compiler.is_compiling()
        if not cacheable:
            return self._weights()
        key = tuple(id(t) for t in self._originals()) + tuple(t._version for t in self._originals())
        if self._eval_cache is None or self._eval_cache[0] != key:
            rot_p, rot_old = self._weights()  # the parametrisations run here, once per parameter change
            self._eval_cache = (key, rot_p.detach(), rot_old.detach())
        return self._eval_cache[1], self._eval_cache[2]

    def parts(self, e: Tensor) -> BTOutput:
        """All of the head's outputs for ``e`` ``(B, in_features)`` (steps 2-6 of the mechanism)."""
        cfg = self.config
        e = e.reshape(e.shape[0], -1)
        if self.proj is not None:
            e = self.proj(e)
        r = F.relu(e)
        a = self.old_branch(r) if cfg.old_branch == "linear" else self.old_branch(r[:, :, None, None]).flatten(1)
        f = e[:, : cfg.d_new]
        if cfg.norm_feature:
            a, f = F.normalize(a, dim=1), F.normalize(f, dim=1)
        rot_p, rot_old = self.rotations()
        bct, _, phi = basis_transform(a, f, rot_p, rot_old, to_add=cfg.to_add, d_old=cfg.d_old, C=cfg.C)
        return BTOutput(self.classifier(f), bct, f, phi)

    def forward(self, e: Tensor) -> Tensor:
        out = self.parts(e)
        self.last = out
        return out.logits

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._eval_cache = None
        super()._load_from_state_dict(*args, **kwargs)


def find_linear(model: nn.Module, path: str | None = None) -> tuple[str, nn.Linear]:
    """The classifier of ``model``: the ``nn.Linear`` at ``path`` (dotted), else the last one registered."""
    if path is not None:
        try:
            module = model.get_submodule(path)
        except AttributeError:
            module = None
        if not isinstance(module, nn.Linear):
            linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
            raise ConfigError([ConfigIssue("head", f"{path!r} is not an nn.Linear of the model (its Linears: "
                                           f"{', '.join(linears[:8]) or 'none'})")])
        return path, module
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ConfigError([ConfigIssue("head", f"{type(model).__name__} has no nn.Linear classifier to replace")])
    return found[-1]


def find_head(model: nn.Module) -> BasisTransformHead | None:
    """The first :class:`BasisTransformHead` inside ``model`` (None: a plain model)."""
    return next((m for m in model.modules() if isinstance(m, BasisTransformHead)), None)


def attach_basis_transform(model: nn.Module, config: BasisTransformHeadConfig | Mapping[str, Any] | None = None,
                           **overrides: Any) -> nn.Module:
    """Functional form: replace ``model``'s classifier (in place) by a :class:`BasisTransformHead`; returns it."""
    from forwardkit.config import resolve_config

    cfg = resolve_config(BasisTransformHeadConfig, config, overrides)
    path, linear = find_linear(model, cfg.head)
    head = BasisTransformHead(cfg, in_features=linear.in_features,
                              num_classes=cfg.num_classes or linear.out_features)
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    if parent is model and not name:
        raise ConfigError([ConfigIssue("head", "the model itself is a Linear; wrap it in a backbone first")])
    setattr(parent, name, head)
    return model


class BasisTransformAdapter(Adapter):
    """``basis_transform_head``: replaces the model's classifier by the BT^2 head; the copy keeps the call
    signature (``logits`` of the same classes) and exposes ``bct``, ``f`` and ``phi`` through the head."""

    Config = BasisTransformHeadConfig
    config: BasisTransformHeadConfig
    inplace = False
    conformance_configs = ({"d_new": 4, "d_old": 4, "to_add": 2},
                           {"d_new": 6, "d_old": 4, "to_add": 2, "old_branch": "conv1x1", "norm_feature": False})

    def apply(self, model: nn.Module) -> nn.Module:
        return attach_basis_transform(copy.deepcopy(model), self.config)
