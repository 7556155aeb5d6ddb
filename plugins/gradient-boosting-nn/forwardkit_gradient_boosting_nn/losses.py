"""The boosting losses of GB-NN (steps S1, S2, S5; official ``gbnn/GBNN.py``): F_0, pseudo-residuals, line search.

A loss works on the *boosting score* ``F`` of shape ``(N, Ks)``: ``Ks = K`` targets for ``squared``, ``Ks = 1``
for ``binary_logexp`` (labels ``y in {-1, +1}``), ``Ks = K`` classes for ``softmax_ce`` (one-hot ``Y``). The
merged network's ``K`` outputs are ``F @ E^T`` with the loss's embedding ``E`` (``K x Ks``): the identity,
except for the binary loss, whose two logits are ``[0, 2F]`` (``E = [[0], [2]]``), so that softmax over them is
``P(y = +1) = sigmoid(2F)``, the paper's probability, and the task's cross-entropy is ``log(1 + exp(-2yF))``.

Per loss (``r`` the pseudo-residuals, ``f`` the new stage's outputs on all rows):

=================  ==========================  ===================  ===========================================
loss               F_0                         r = -dL/dF           line search (code)
=================  ==========================  ===================  ===========================================
``squared``        mean(Y)                     Y - F                1
``binary_logexp``  1/2 log((1+ybar)/(1-ybar))  2y / (1+exp(2yF))    sum(r f) / sum(r f^2 (2y - r))
``softmax_ce``     0 (code) / log priors       Y - softmax(F)       sum(f r) / sum(f^2 P (1 - P))
=================  ==========================  ===================  ===========================================

``newton="exact"`` is the 1-D Newton step of ``sum_i L(y_i, F_i + rho f_i)`` at ``rho = 0``: it equals the
code's for the binary loss, is ``sum(r f) / sum(f^2)`` for the squared loss (the code takes 1, the value a
perfect least-squares fit of r gives), and for softmax uses the full softmax Hessian
``sum_i [sum_k f_k^2 P_k - (sum_k f_k P_k)^2]`` where the code keeps its diagonal.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

LossName = Literal["squared", "binary_logexp", "softmax_ce"]
LOSSES: tuple[LossName, ...] = ("squared", "binary_logexp", "softmax_ce")
#: ybar of the binary F_0 is kept inside (-1, 1) by this margin (a split with one class would give +-inf)
YBAR_MARGIN = 1e-6

__all__ = [
    "LOSSES",
    "embedding",
    "encode_targets",
    "initial_constant",
    "loss_value",
    "newton_step",
    "pseudo_residuals",
    "resolve_loss",
    "scores_from_logits",
    "stage_outputs",
]


def resolve_loss(name: str, *, classification: bool, num_classes: int) -> LossName:
    """The loss ``auto`` stands for: ``squared`` for float targets, ``binary_logexp`` for two classes,
    ``softmax_ce`` for more; an explicit name is checked against the task."""
    if name == "auto":
        if not classification:
            return "squared"
        return "binary_logexp" if num_classes == 2 else "softmax_ce"
    if name not in LOSSES:
        raise ValueError(f"unknown boosting loss {name!r}; allowed: auto, {', '.join(LOSSES)}")
    if classification and name == "squared":
        raise ValueError("the squared loss boosts regression targets; the batch has class labels")
    if not classification and name != "squared":
        raise ValueError(f"{name} needs integer class labels; the batch has float targets")
    if name == "binary_logexp" and num_classes != 2:
        raise ValueError(f"binary_logexp needs a 2-class model, this one has {num_classes} outputs")
    if name == "softmax_ce" and num_classes < 2:
        raise ValueError("softmax_ce needs at least 2 classes")
    return name  # type: ignore[return-value]


def stage_outputs(loss: LossName, num_classes: int) -> int:
    """``Ks``: outputs of one stage's regressor (the width of the boosting score ``F``)."""
    return 1 if loss == "binary_logexp" else num_classes


def embedding(loss: LossName, num_classes: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """``E`` ``(K, Ks)`` with merged outputs ``= F @ E^T``: the identity, or ``[[0], [2]]`` for the binary loss
    (the official ``to_NN``'s multiplier 2)."""
    if loss == "binary_logexp":
        return torch.tensor([[0.0], [2.0]], dtype=dtype)
    return torch.eye(num_classes, dtype=dtype)


def encode_targets(loss: LossName, y: Tensor, num_classes: int) -> Tensor:
    """The targets the loss works on, ``(N, Ks)`` float: regression values, ``2y - 1`` in {-1, +1} for the
    binary loss (label 1 is the positive class), one-hot rows for softmax. ``y`` is ``(N,)`` or ``(N, ...)``."""
    n = y.shape[0]
    if loss == "squared":
        return y.float().reshape(n, -1)
    labels = y.reshape(n).long()
    if loss == "binary_logexp":
        if labels.numel() and (labels.min() < 0 or labels.max() > 1):
            raise ValueError("binary_logexp needs labels in {0, 1}")
        return (2.0 * labels - 1.0).float().unsqueeze(1)
    return F.one_hot(labels, num_classes).float()


def scores_from_logits(loss: LossName, logits: Tensor) -> Tensor:
    """The boosting score ``F`` ``(N, Ks)`` of merged outputs ``(N, K)`` (the inverse of ``F @ E^T``)."""
    if loss == "binary_logexp":
        return (logits[:, 1:2] - logits[:, 0:1]) / 2.0
    return logits


def initial_constant(loss: LossName, Y: Tensor, *, f0: str = "code") -> Tensor:
    """``F_0`` ``(Ks,)``: the constant the boosting starts from (step S1). ``Y`` as
    :func:`encode_targets` gives it. ``f0="optimal"`` gives softmax the log class priors (the minimiser of the
    average loss, up to a constant); the official code uses zeros."""
    if loss == "squared":
        return Y.mean(dim=0)
    if loss == "binary_logexp":
        ybar = Y.mean().clamp(-1.0 + YBAR_MARGIN, 1.0 - YBAR_MARGIN)
        return (0.5 * torch.log((1.0 + ybar) / (1.0 - ybar))).reshape(1)
    if f0 == "optimal":
        return torch.log(Y.mean(dim=0).clamp_min(1e-12))
    return torch.zeros(Y.shape[1], dtype=Y.dtype)


def pseudo_residuals(loss: LossName, Y: Tensor, F_prev: Tensor) -> Tensor:
    """``r = -dL/dF`` at ``F_prev`` ``(N, Ks)`` (step S2; official ``derive``)."""
    if loss == "squared":
        return Y - F_prev
    if loss == "binary_logexp":
        return 2.0 * Y * torch.sigmoid(-2.0 * Y * F_prev)  # = 2y / (1 + exp(2yF)), without overflow
    return Y - torch.softmax(F_prev, dim=1)


def loss_value(loss: LossName, Y: Tensor, scores: Tensor) -> Tensor:
    """The mean boosting loss over rows: ``(Y - F)^2`` summed over targets (official ``squared_loss``),
    ``log(1 + exp(-2yF))``, or the softmax cross-entropy."""
    if loss == "squared":
        return (Y - scores).pow(2).sum(dim=1).mean()
    if loss == "binary_logexp":
        return F.softplus(-2.0 * Y * scores).mean()
    return -(Y * torch.log_softmax(scores, dim=1)).sum(dim=1).mean()


def _ratio(num: Tensor, den: Tensor) -> float:
    n, d = float(num), float(den)
    if d == 0.0 or not math.isfinite(n / d):
        return 0.0  # a stage that predicts 0 everywhere (or a degenerate Hessian) adds nothing
    return n / d


def newton_step(loss: LossName, Y: Tensor, r: Tensor, f: Tensor, *, mode: str = "code") -> float:
    """The line-search step ``rho`` (before the shrinkage ``eta``) of the new stage's outputs ``f`` ``(N, Ks)``
    at the residuals ``r = -dL/dF(F_prev)`` ``(N, Ks)`` and targets ``Y`` (step S5; official
    ``newton_step``). ``mode``: ``"code"`` (the official formulas) or ``"exact"`` (see the module docstring)."""
    if mode not in ("code", "exact"):
        raise ValueError(f"mode must be 'code' or 'exact', got {mode!r}")
    if loss == "squared":
        return 1.0 if mode == "code" else _ratio((r * f).sum(), (f * f).sum())
    if loss == "binary_logexp":
        return _ratio((r * f).sum(), (r * f * f * (2.0 * Y - r)).sum())
    P = Y - r  # softmax(F_prev), recovered as the official code does
    if mode == "code":
        return _ratio((f * r).sum(), (f * f * P * (1.0 - P)).sum())
    curvature = (f * f * P).sum(dim=1) - (f * P).sum(dim=1).pow(2)
    return _ratio((f * r).sum(), curvature.sum())
