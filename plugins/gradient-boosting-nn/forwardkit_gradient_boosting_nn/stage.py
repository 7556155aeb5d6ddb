"""One boosting stage: a one-hidden-layer regressor ``h_t(x) = V act(W x + c) + d`` fitted by MSE to the
pseudo-residuals (step S4; the official code fits ``sklearn.neural_network.MLPRegressor``).

The objective is scikit-learn's ``MLPRegressor`` loss, so that a stage fitted here matches one the official
code fits: ``1/2 mean((r - h(x))^2) + alpha/2 * (||W||^2 + ||V||^2) / n`` (mean over every element of ``r``,
the biases not penalised), minimised by L-BFGS (strong-Wolfe line search, history 10, ``max_iter``
iterations and no tolerance: the official ``tol = 0``) or Adam (scikit-learn's betas and epsilon).
Initialisation is scikit-learn's Glorot-uniform rule: ``U(-b, b)`` with ``b = sqrt(k / (fan_in + fan_out))``,
``k = 2`` for the logistic activation and 6 otherwise, for weights and biases alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "StageNet", "adam_for", "fit_stage", "glorot_bound", "glorot_uniform_", "stage_objective"]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"sigmoid": torch.sigmoid, "tanh": torch.tanh,
                                                       "relu": torch.relu}
#: scikit-learn's L-BFGS budget of function evaluations (``max_fun``)
MAX_EVALUATIONS = 15000


def glorot_bound(fan_in: int, fan_out: int, activation: str) -> float:
    """scikit-learn's init bound ``sqrt(k / (fan_in + fan_out))`` (``k = 2`` for the logistic unit, else 6)."""
    return math.sqrt((2.0 if activation == "sigmoid" else 6.0) / (fan_in + fan_out))


def glorot_uniform_(t: Tensor, bound: float, generator: torch.Generator | None = None) -> Tensor:
    """Fill ``t`` in place with ``U(-bound, bound)`` drawn from ``generator``."""
    with torch.no_grad():
        values = torch.rand(t.shape, generator=generator, dtype=torch.float64) * (2 * bound) - bound
        return t.copy_(values.to(t.dtype))


class StageNet(nn.Module):
    """``h(x) = V act(W x + c) + d``: ``x`` ``(N, D)`` -> ``(N, Ks)`` with ``J`` hidden units."""

    def __init__(self, in_features: int, units: int, outputs: int, activation: str = "sigmoid") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}")
        self.activation = activation
        self.hidden = nn.Linear(in_features, units)
        self.out = nn.Linear(units, outputs)

    def hidden_features(self, x: Tensor) -> Tensor:
        """``act(W x + c)``: ``(N, D)`` -> ``(N, J)``."""
        return ACTIVATIONS[self.activation](self.hidden(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.hidden_features(x))

    def init_(self, generator: torch.Generator | None = None, *, hidden: bool = True) -> StageNet:
        """scikit-learn's Glorot-uniform init of the output layer (and of the hidden layer with ``hidden``)."""
        d, j, k = self.hidden.in_features, self.hidden.out_features, self.out.out_features
        if hidden:
            b = glorot_bound(d, j, self.activation)
            glorot_uniform_(self.hidden.weight, b, generator)
            glorot_uniform_(self.hidden.bias, b, generator)
        b = glorot_bound(j, k, self.activation)
        glorot_uniform_(self.out.weight, b, generator)
        glorot_uniform_(self.out.bias, b, generator)
        return self

    @classmethod
    def from_tensors(cls, weight: Tensor, bias: Tensor, out_weight: Tensor, out_bias: Tensor,
                     activation: str = "sigmoid") -> StageNet:
        """A stage from its four tensors ``W (J, D)``, ``c (J,)``, ``V (Ks, J)``, ``d (Ks,)`` (copied)."""
        net = cls(weight.shape[1], weight.shape[0], out_weight.shape[0], activation)
        with torch.no_grad():
            for p, t in zip(net.tensors(), (weight, bias, out_weight, out_bias), strict=True):
                p.copy_(t)
        return net

    def tensors(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(W, c, V, d)``."""
        return self.hidden.weight, self.hidden.bias, self.out.weight, self.out.bias


def stage_objective(net: StageNet, x: Tensor, r: Tensor, l2: float) -> Tensor:
    """scikit-learn's ``MLPRegressor`` loss of ``net`` on rows ``x`` ``(n, D)`` and targets ``r`` ``(n, Ks)``:
    ``1/2 mean((r - net(x))^2) + l2/2 * (||W||^2 + ||V||^2) / n``."""
    err = 0.5 * (r - net(x)).pow(2).mean()
    if l2:
        err = err + 0.5 * l2 * (net.hidden.weight.pow(2).sum() + net.out.weight.pow(2).sum()) / x.shape[0]
    return err


def fit_stage(net: StageNet, x: Tensor, r: Tensor, *, optimizer: str = "lbfgs", max_iter: int = 200,
              l2: float = 1e-4, lr: float = 1e-3, adam: torch.optim.Optimizer | None = None) -> float:
    """Fit ``net``'s trainable parameters to the residuals ``r`` ``(n, Ks)`` on rows ``x`` ``(n, D)`` in place;
    returns the final objective. ``adam``: an Adam optimizer over ``net``'s trainable parameters to continue
    (a stage fitted over several steps), else a new one. Parameters with ``requires_grad=False`` stay fixed.
    A fit that ends non-finite is undone (the stage keeps its starting point)."""
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        with torch.no_grad():
            return float(stage_objective(net, x, r, l2))
    start = [p.detach().clone() for p in params]
    with torch.enable_grad():
        if optimizer == "lbfgs":
            opt: Any = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, max_eval=MAX_EVALUATIONS,
                                         tolerance_grad=0.0, tolerance_change=0.0, history_size=10,
                                         line_search_fn="strong_wolfe")

            def closure() -> Tensor:
                opt.zero_grad()
                loss = stage_objective(net, x, r, l2)
                loss.backward()
                return loss

            opt.step(closure)
        elif optimizer == "adam":
            opt = adam if adam is not None else adam_for(net, lr)
            for _ in range(max_iter):
                opt.zero_grad()
                stage_objective(net, x, r, l2).backward()
                opt.step()
        else:
            raise ValueError(f"unknown stage optimizer {optimizer!r}; allowed: lbfgs, adam")
    for p in params:
        p.grad = None
    with torch.no_grad():
        value = float(stage_objective(net, x, r, l2))
        if not math.isfinite(value) or not all(torch.isfinite(p).all() for p in params):
            for p, s in zip(params, start, strict=True):
                p.copy_(s)
            value = float(stage_objective(net, x, r, l2))
    return value


def adam_for(net: StageNet, lr: float) -> torch.optim.Adam:
    """scikit-learn's Adam (betas 0.9, 0.999; epsilon 1e-8) over ``net``'s trainable parameters."""
    return torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.999), eps=1e-8)
