"""The stage table as numbers (torch-free): which stage a point of the budget is in, its bandwidth B, and the
compute the schedule costs (sec. 4 of arXiv:2211.09703; ``ET_training.py`` for v1, ``_ET_pp_main_*.py`` and
``utils_buffer.auto_load_model`` for EfficientTrain++).

v1 (the ICCV schedule): stage k takes ``frac_k`` of the *steps*, so its share of the compute is
``frac_k (B_k/H)^2`` and the whole run costs ``sum_k frac_k (B_k / H)^2`` of a full-resolution run of the same
length: 0.653 for the default table (= (3 (160/224)^2 + (192/224)^2 + 1) / 5).

EfficientTrain++ (``equal_compute_stages``): stage k takes ``frac_k`` of the *compute*, so it runs
``frac_k (H/B_k)^2 / sum_j frac_j (H/B_j)^2`` of the steps (a stage at B runs (H/B)^2 times more steps per unit of
frac), and the learning-rate schedule is read at the consumed compute, not at the step count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: tolerance of the stage boundaries (a progress of 0.6 - 1e-12 is the boundary 0.6)
EPS = 1e-9


def bandwidth_for(ratio: float, size: int, round_to: int = 2) -> int:
    """B for a ratio ``B / H`` at side ``size``: ``round_to x round(ratio x size / round_to)``, at least ``round_to``
    and at most ``size``; a ratio of 1 (or a B that rounds to the side) gives ``size`` itself (no crop).

    >>> [bandwidth_for(r, 224) for r in (160 / 224, 192 / 224, 1.0)], bandwidth_for(160 / 224, 28)
    ([160, 192, 224], 20)
    """
    if ratio >= 1.0:
        return size
    b = round_to * math.floor(ratio * size / round_to + 0.5)
    return int(min(max(b, round_to), size))


def bandwidths(stages: Sequence[Any], size: tuple[int, int], round_to: int = 2) -> list[tuple[int, int]]:
    """``(B_h, B_w)`` of every stage at an ``(H, W)`` image."""
    return [(bandwidth_for(s.bandwidth_ratio, size[0], round_to), bandwidth_for(s.bandwidth_ratio, size[1], round_to))
            for s in stages]


def pixel_ratio(bandwidth: tuple[int, int], size: tuple[int, int]) -> float:
    """``(B_h B_w) / (H W)``: the per-sample compute of a conv net at B relative to full resolution."""
    return bandwidth[0] * bandwidth[1] / (size[0] * size[1])


def step_shares(stages: Sequence[Any], size: tuple[int, int], round_to: int = 2, *,
                equal_compute: bool = False) -> list[float]:
    """The share of the training steps of every stage: ``frac_k`` (v1), or ``frac_k / r_k`` normalised
    (EfficientTrain++, ``r_k = (B_k/H)^2``: every unit of frac costs the same compute)."""
    fracs = [float(s.frac) for s in stages]
    if not equal_compute:
        return fracs
    ratios = [pixel_ratio(b, size) for b in bandwidths(stages, size, round_to)]
    weights = [f / r for f, r in zip(fracs, ratios, strict=True)]
    total = sum(weights)
    return [w / total for w in weights]


def stage_at(progress: float, shares: Sequence[float]) -> int:
    """The stage ``k`` with ``sum_{j<k} shares_j <= progress < sum_{j<=k} shares_j`` (the last stage at and after
    the end of the budget)."""
    edge = 0.0
    for k, share in enumerate(shares):
        edge += share
        if progress < edge - EPS:
            return k
    return len(shares) - 1


def stage_epochs(stages: Sequence[Any], epochs: float, size: tuple[int, int], round_to: int = 2, *,
                 equal_compute: bool = False) -> list[float]:
    """How many of ``epochs`` every stage runs (``step_shares`` x epochs): v1 ``frac_k E``; EfficientTrain++ in
    proportion to ``frac_k (H/B_k)^2``."""
    return [share * epochs for share in step_shares(stages, size, round_to, equal_compute=equal_compute)]


def relative_compute(stages: Sequence[Any], size: tuple[int, int] = (224, 224), round_to: int = 2, *,
                     equal_compute: bool = False) -> float:
    """The schedule's compute relative to a full-resolution run of the same number of steps, for conv nets:
    ``sum_k share_k (B_k/H)^2`` (0.653 for the default v1 table at 224 and at 28)."""
    shares = step_shares(stages, size, round_to, equal_compute=equal_compute)
    ratios = [pixel_ratio(b, size) for b in bandwidths(stages, size, round_to)]
    return sum(s * r for s, r in zip(shares, ratios, strict=True))


def progress_of(step: int, epoch: int, steps_per_epoch: int, total_steps: int, granularity: str) -> float:
    """The fraction of the step budget used where the stage is chosen: at the start of the epoch (``epoch``
    granularity, the official code) or at this step."""
    used = epoch * steps_per_epoch if granularity == "epoch" else step
    return used / max(total_steps, 1)


def planned_stages(total_steps: int, steps_per_epoch: int, shares: Sequence[float], granularity: str) -> list[int]:
    """The stage of every step ``0 .. total_steps - 1`` of a run (what :func:`stage_at` gives at each step)."""
    out = []
    for t in range(total_steps):
        epoch = t // max(steps_per_epoch, 1)
        out.append(stage_at(progress_of(t, epoch, steps_per_epoch, total_steps, granularity), shares))
    return out
