"""From layer-wise densities ``p_l`` to channel widths (the card's formalisation of the cropping rule).

With ``x_g = log alpha_g`` for every free channel group ``g`` (tie groups are one variable; fixed groups
have ``x = 0``), a standard layer ``l`` keeps the fraction ``alpha_in * alpha_out`` of its weights and a
depthwise one ``alpha_out``. The keep ratios solve the bound-constrained linear least squares

    min_x  sum_l w_l (x_in(l) + x_out(l) - log p_l)^2,   log(min_channels / c_g) <= x_g <= 0,

with ``w_l`` the layer's weights (budget 'params') or MACs (budget 'flops'), so large layers dominate
(``scipy.optimize.lsq_linear``). One global shift ``t`` of every ``x_g`` (clipped to the bounds) is then
found by bisection so that the kept total is ``d`` times the dense total, the widths are rounded
(``round_to``) and, with ``round_to = 1``, adjusted one channel at a time towards the exact target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from forwardkit_precropping.graph import ChannelGraph


@dataclass
class CropPlan:
    """The solution: continuous keep ratios, integer widths and how well they meet the targets."""

    alphas: dict[str, float]
    widths: dict[str, int]
    target: float
    kept: float
    total: int
    cost: str
    residuals: dict[str, float] = field(default_factory=dict)
    at_floor: list[str] = field(default_factory=list)

    @property
    def achieved(self) -> float:
        return self.kept / max(self.total, 1)


def _bounds(graph: ChannelGraph, min_channels: int, allow_expand: bool) -> tuple[np.ndarray, np.ndarray]:
    free = graph.free
    lower = np.array([math.log(min(1.0, min_channels / graph.groups[g].width)) for g in free])
    upper = np.full(len(free), np.inf if allow_expand else 0.0)
    return lower, upper


def solve_log_alphas(graph: ChannelGraph, densities: Mapping[str, float], *, cost: str = "params",
                     min_channels: int = 4, allow_expand: bool = False, balance: float = 0.1,
                     floor: float = 1e-4) -> np.ndarray:
    """The least-squares ``x = log alpha`` of the free groups (module docstring), before the global shift.

    ``balance`` adds ``balance * w_l * (x_in - x_out)^2`` for every layer between two free groups: the
    density terms only fix the sums ``x_in + x_out``, and without it the split alternates (wide, narrow,
    wide, ...) along a chain. The term picks the even split ``alpha_in = alpha_out`` where the densities
    leave the choice open (an addition to the card's formalisation).
    """
    from scipy.optimize import lsq_linear

    free = graph.free
    index = {g: i for i, g in enumerate(free)}
    rows, rhs = [], []
    for layer in graph.layers:
        w = math.sqrt(max(layer.numel if cost == "params" else layer.macs, 1))
        row = np.zeros(len(free))
        groups = [layer.out_group] if layer.depthwise else [layer.in_group, layer.out_group]
        for g in groups:
            if g in index:
                row[index[g]] += 1.0
        rows.append(w * row)
        rhs.append(w * math.log(max(float(densities[layer.name]), floor)))
        if balance > 0 and not layer.depthwise and layer.in_group in index and layer.out_group in index \
                and layer.in_group != layer.out_group:
            tie = np.zeros(len(free))
            tie[index[layer.in_group]], tie[index[layer.out_group]] = 1.0, -1.0
            rows.append(math.sqrt(balance) * w * tie)
            rhs.append(0.0)
    lower, upper = _bounds(graph, min_channels, allow_expand)
    if not free:
        return np.zeros(0)
    A, b = np.array(rows), np.array(rhs)
    upper_finite = np.where(np.isinf(upper), 10.0, upper)
    # a group already at min_channels (lower == upper == 0) cannot move: lsq_linear needs lower < upper
    lower = np.minimum(lower, upper_finite - 1e-12)
    return np.clip(np.asarray(lsq_linear(A, b, bounds=(lower, upper_finite)).x), None, upper_finite)


def _alphas(graph: ChannelGraph, x: np.ndarray) -> dict[str, float]:
    return {g: float(math.exp(v)) for g, v in zip(graph.free, x, strict=True)}


def crop_plan(graph: ChannelGraph, densities: Mapping[str, float], density: float, *, cost: str = "params",
              min_channels: int = 4, allow_expand: bool = False, round_to: int = 1, balance: float = 0.1
              ) -> CropPlan:
    """Widths of the free groups meeting ``density`` of the dense total (module docstring)."""
    x0 = solve_log_alphas(graph, densities, cost=cost, min_channels=min_channels, allow_expand=allow_expand,
                          balance=balance)
    lower, upper = _bounds(graph, min_channels, allow_expand)
    total = graph.total(cost=cost)
    target = density * total

    def kept(t: float) -> float:
        return graph.kept(_alphas(graph, np.clip(x0 + t, lower, upper)), cost=cost)

    lo, hi = -60.0, 60.0  # kept(t) is non-decreasing in t
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if kept(mid) < target:
            lo = mid
        else:
            hi = mid
    x = np.clip(x0 + 0.5 * (lo + hi), lower, upper)
    alphas = _alphas(graph, x)
    widths = _round_widths(graph, alphas, min_channels, allow_expand, round_to)
    if round_to == 1:
        widths = _adjust(graph, widths, target, cost, min_channels, allow_expand)
    realised = {g: widths[g] / graph.groups[g].width for g in graph.free}
    residuals = {}
    for layer in graph.layers:
        a_in = 1.0 if graph.groups[layer.in_group].fixed else realised[layer.in_group]
        a_out = 1.0 if graph.groups[layer.out_group].fixed else realised[layer.out_group]
        achieved = a_out if layer.depthwise else a_in * a_out
        residuals[layer.name] = achieved - float(densities[layer.name])
    at_floor = [g for g in graph.free if widths[g] <= min_channels]
    return CropPlan(alphas, widths, target, graph.kept(realised, cost=cost), total, cost, residuals, at_floor)


def _round_widths(graph: ChannelGraph, alphas: Mapping[str, float], min_channels: int, allow_expand: bool,
                  round_to: int) -> dict[str, int]:
    out = {}
    for g in graph.free:
        c = graph.groups[g].width
        w = round(alphas[g] * c / round_to) * round_to
        w = max(w, min_channels, round_to)
        out[g] = w if allow_expand else min(w, c)
    return out


def _adjust(graph: ChannelGraph, widths: dict[str, int], target: float, cost: str, min_channels: int,
            allow_expand: bool, max_moves: int = 1000) -> dict[str, int]:
    """Greedy +-1 channel moves while one brings the kept total closer to ``target``."""
    widths = dict(widths)

    def kept(ws: Mapping[str, int]) -> float:
        return graph.kept({g: ws[g] / graph.groups[g].width for g in graph.free}, cost=cost)

    current = abs(kept(widths) - target)
    for _ in range(max_moves):
        best, best_gap = None, current
        for g in graph.free:
            c = graph.groups[g].width
            for step in (-1, 1):
                w = widths[g] + step
                if w < min(min_channels, c) or (w > c and not allow_expand):
                    continue
                gap = abs(kept({**widths, g: w}) - target)
                if gap < best_gap - 1e-9:
                    best, best_gap = (g, w), gap
        if best is None:
            break
        widths[best[0]] = best[1]
        current = best_gap
    return widths
