"""Which guide layer supervises which target layer (card "Mechanism", mapping; rep_sim/layer_sim.py).

``uniform_round``: with ``G`` guide taps and ``S`` target taps, guide tap ``i`` (0-based) goes to target tap
``min(round(i * (S - 1) / (G - 1)), S - 1)`` (``G = 1``: target 0), with Python's ``round`` (half to even) as
the official ``layer_supervision``. Every guide tap is used; when ``G > S`` several land on one target tap and the
official code, which stores the distances in a dict keyed by the target tap, keeps only the last of them
(``dedupe='last'``); ``dedupe='sum'`` keeps every pair. When ``G < S`` some target taps get no supervision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

__all__ = ["map_pairs", "uniform_round"]


def uniform_round(num_guide: int, num_target: int) -> list[int]:
    """The target tap index of each of ``num_guide`` guide taps over ``num_target`` target taps."""
    if num_guide < 1 or num_target < 1:
        raise ValueError(f"need at least one guide and one target tap, got G={num_guide}, S={num_target}")
    step = (num_target - 1) / (num_guide - 1) if num_guide > 1 else 1.0
    return [min(round(i * step), num_target - 1) for i in range(num_guide)]


def map_pairs(guide: Sequence[str], target: Sequence[str], *,
              mapping: Literal["uniform_round", "explicit"] = "uniform_round",
              dedupe: Literal["last", "sum"] = "last",
              pairs: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``(guide tap, target tap)`` pairs that enter the alignment loss, ordered by target tap then guide tap.

    ``explicit`` takes ``pairs`` (guide name -> target name) as given, checked against the tap names;
    ``dedupe`` applies to both.
    """
    guide, target = list(guide), list(target)
    if mapping == "explicit":
        if not pairs:
            raise ValueError("explicit mapping needs pairs (guide tap -> target tap)")
        unknown = [g for g in pairs if g not in guide] + [t for t in pairs.values() if t not in target]
        if unknown:
            raise ValueError(f"pairs name taps that do not exist: {unknown}; guide taps {guide}, target taps {target}")
        chosen = [(g, pairs[g]) for g in guide if g in pairs]
    elif mapping == "uniform_round":
        chosen = [(g, target[t]) for g, t in zip(guide, uniform_round(len(guide), len(target)), strict=True)]
    else:
        raise ValueError(f"unknown mapping {mapping!r} (uniform_round, explicit)")
    if dedupe == "last":
        last: dict[str, str] = {}
        for g, t in chosen:
            last[t] = g
        chosen = [(g, t) for t, g in last.items()]
    elif dedupe != "sum":
        raise ValueError(f"unknown dedupe {dedupe!r} (last, sum)")
    order_t, order_g = {t: i for i, t in enumerate(target)}, {g: i for i, g in enumerate(guide)}
    return sorted(chosen, key=lambda p: (order_t[p[1]], order_g[p[0]]))
