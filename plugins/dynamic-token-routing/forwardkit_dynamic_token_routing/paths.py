"""Static paths through the routing space: fixed 0/1 gates that turn the routing ViT into a static network.

A path is a table ``path[l][s]``: the set of edges (letters of ``'TID'``) every token takes at node (l, s), ''
for none. The card's static baseline ("2 transform layers per scale with down-moves after layers 2 and 4") for
the 3-scale, 6-layer grid is::

    layer 1: T . .      layer 3: D T .      layer 5: . D T
    layer 2: T . .      layer 4: . T .      layer 6: . . T

(a down-move at the start of a layer feeds the coarser node of the same layer, which transforms it): a PVT-like
pyramid of 2 + 2 + 2 blocks joined by patch embeddings.
"""

from __future__ import annotations

from forwardkit_dynamic_token_routing.config import StaticPath


def pvt_path(num_layers: int, num_scales: int) -> list[list[str]]:
    """The card's static PVT-like path generalised: the layers split into ``num_scales`` near-equal stages
    (earlier stages get the remainder), stage s transforms at scale s, and the first layer of every stage after
    the first moves down from the previous scale."""
    base, extra = divmod(num_layers, num_scales)
    stages = [base + (1 if s < extra else 0) for s in range(num_scales)]
    path: list[list[str]] = []
    for s, length in enumerate(stages):
        for i in range(length):
            row = [""] * num_scales
            row[s] = "T"
            if i == 0 and s > 0:
                row[s - 1] = "D"
            path.append(row)
    return path


def resolve_path(path: StaticPath | None, num_layers: int, num_scales: int) -> list[list[str]] | None:
    """The table of a configured ``static_path`` (None stays None)."""
    if path is None:
        return None
    if path == "pvt":
        return pvt_path(num_layers, num_scales)
    return [list(row) for row in path]  # type: ignore[union-attr]


def path_weights(path: list[list[str]]) -> list[list[tuple[float, float, float]]]:
    """Per node the constant gate weights ``(w_T, w_I, w_D)`` in {0, 1} of a path."""
    return [[(float("T" in e), float("I" in e), float("D" in e)) for e in row] for row in path]


def reached(path: list[list[str]]) -> list[list[bool]]:
    """Which nodes hold tokens when the input enters at scale 0 of layer 1 (every node of the path that some
    edge reaches): ``reached[l][s]``."""
    num_scales = len(path[0]) if path else 0
    alive = [s == 0 for s in range(num_scales)]
    out: list[list[bool]] = []
    for row in path:
        incoming = False
        here: list[bool] = []
        nxt = [False] * num_scales
        for s, edges in enumerate(row):
            has = alive[s] or incoming
            here.append(has)
            nxt[s] = has and ("T" in edges or "I" in edges)
            incoming = has and "D" in edges
        out.append(here)
        alive = nxt
    return out
