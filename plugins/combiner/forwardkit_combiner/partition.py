"""The factorisation plans of the paper written out as sets: for every query i, its direct set ``Omega_i^0`` and
its regions ``Omega_i^1..Omega_i^{n_i}`` (§3.1: disjoint, their union the support; §4: the instantiations).

Slow and literal on purpose (Python sets, one plan per query): the tests check the support conditions on
them, and :mod:`.reference` computes attention from them to check the vectorised kernels. 0-indexed
positions; ``i = row * m + col`` on the ``n x m`` matrix of the axial variants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from forwardkit_combiner.grid import segments
from forwardkit_combiner.logsparse import level_count

__all__ = ["Plan", "Region", "partition"]


@dataclass(frozen=True)
class Region:
    """A region ``Omega_i^r``: its members and how its abstraction is made. ``query_at`` None: the query
    ``q_Omega`` is a pool of the members' queries, else the real query of that position (rowmajor's
    column-dependent abstraction). ``key_at`` None: the key is a pool of the members' keys, else the learned
    key of that position (the official rowmajor key)."""

    members: tuple[int, ...]
    query_at: int | None = None
    key_at: int | None = None


@dataclass(frozen=True)
class Plan:
    """The factorisation of one query's support: direct positions and regions."""

    direct: tuple[int, ...]
    regions: tuple[Region, ...]


def _fixed(length: int, s: int, causal: bool) -> list[Plan]:
    plans = []
    for i in range(length):
        a = i // s
        direct = tuple(j for j in range(a * s, (a + 1) * s) if not causal or j <= i)
        others = range(a) if causal else (r for r in range(length // s) if r != a)
        plans.append(Plan(direct, tuple(Region(tuple(range(r * s, (r + 1) * s))) for r in others)))
    return plans


def _logsparse(length: int) -> list[Plan]:
    plans = []
    for i in range(length):
        direct = (i, i - 1) if i % 2 else (i,)
        regions = []
        for level in range(1, level_count(length)):
            block = i >> level
            if block % 2:
                regions.append(Region(tuple(range((block - 1) << level, block << level))))
        plans.append(Plan(direct, tuple(regions)))
    return plans


def _rowmajor(n: int, m: int, causal: bool, learned_key: bool) -> list[Plan]:
    plans = []
    for i in range(n * m):
        s, u = divmod(i, m)
        direct = tuple(s * m + t for t in range(m) if not causal or t <= u)
        rows = range(s) if causal else (r for r in range(n) if r != s)
        regions = tuple(Region(tuple(range(r * m, (r + 1) * m)), query_at=r * m + u,
                               key_at=r * m + u if learned_key else None) for r in rows)
        plans.append(Plan(direct, regions))
    return plans


def _axial_direct(i: int, m: int) -> tuple[int, ...]:
    s, u = divmod(i, m)
    return tuple(s * m + t for t in range(u + 1)) + tuple(t * m + u for t in range(s))


def _vertical_regions(i: int, m: int) -> list[Region]:
    s, u = divmod(i, m)
    return [Region(tuple(t * m + c for t in range(s))) for c in range(m) if c != u and s > 0]


def _vertical(n: int, m: int) -> list[Plan]:
    return [Plan(_axial_direct(i, m), tuple(_vertical_regions(i, m))) for i in range(n * m)]


def _horizontal(n: int, m: int) -> list[Plan]:
    plans = []
    for i in range(n * m):
        s, u = divmod(i, m)
        regions = tuple(Region(tuple(r * m + j for j in range(m) if j != u)) for r in range(s) if m > 1)
        plans.append(Plan(_axial_direct(i, m), regions))
    return plans


def _mixture(n: int, m: int) -> list[Plan]:
    plans = []
    for i in range(n * m):
        s, u = divmod(i, m)
        left = [Region(tuple(r * m + j for j in range(u))) for r in range(s) if u > 0]
        right = [Region(tuple(r * m + j for j in range(u + 1, m))) for r in range(s) if u < m - 1]
        plans.append(Plan(_axial_direct(i, m), tuple(_vertical_regions(i, m) + left + right)))
    return plans


def partition(variant: str, spatial: Sequence[int], *, segment_len: int | None = None, causal: bool = True,
              learned_key: bool = False) -> list[Plan]:
    """One :class:`Plan` per query of the ``prod(spatial)`` tokens for a Combiner ``variant`` (``mixture``:
    the official joint-softmax plan, whose regions overlap; ``learned_key``: rowmajor's official key)."""
    length = math.prod(spatial)
    if variant == "logsparse":
        return _logsparse(length)
    n, m = segments(spatial, segment_len)
    if variant == "fixed":
        return _fixed(length, m, causal)
    if variant == "axial_rowmajor":
        return _rowmajor(n, m, causal, learned_key)
    if not causal:
        raise ValueError(f"variant {variant!r} is causal only")
    builders = {"axial_vertical": _vertical, "axial_horizontal": _horizontal, "mixture": _mixture}
    if variant not in builders:
        raise ValueError(f"unknown Combiner variant {variant!r}")
    return builders[variant](n, m)
