"""FLOPs of the routing space, counted from the executed token-edge pairs (card, "Metrics": realised FLOPs with
hard gates, counting only executed token-edge pairs).

Convention: FLOPs = 2 x the multiply-accumulates of the matrix products and convolutions (what torch's
``FlopCounterMode`` counts, and :func:`forwardkit.measure.count_macs` x 2); norms, softmax, activations and
additions are not counted. Per node (l, s) of width C, MLP hidden H, per image:

====================  ====================================================  ==========================
edge                  executed work                                         FLOPs
====================  ====================================================  ==========================
gate                  ``Linear(C, 3)`` on every active token                ``6 C n_active``
T (attention)         k, v of every key token (of an image with a query);   ``4C^2 n_k + (4C^2 + 4CH) n_q``
                      q, proj, MLP of every query
                      ``q k^T`` and ``a v``                                 ``+ 4 C n_q n_k``
T (other mixer)       the mixer on the whole grid (it cannot skip), MLP     ``F_mixer 1(n_q > 0) + 4CH n_q``
D                     ``Linear(4C, C')`` per activated coarse token         ``8 C C' n_coarse``
====================  ====================================================  ==========================

plus the stem and head (constant). ``C_max`` is the full grid: every node holds every token and executes
every edge (keys: all N tokens). The budget loss uses the grid part only (C / C_max).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class ScaleCost:
    """The per-token constants of one scale: width ``dim``, MLP ``hidden``, ``tokens`` N of its grid, the next
    scale's width and token count (None at the coarsest), and a dense token mixer's FLOPs on the whole grid
    (None: the node attention)."""

    dim: int
    hidden: int
    tokens: int
    next_dim: int | None
    next_tokens: int | None
    mixer_flops: float | None = None


def node_flops(sc: ScaleCost, *, n_active: Tensor | float, n_keys: Tensor | float, n_q: Tensor | float,
               n_coarse: Tensor | float, runs_mixer: Tensor | float = 1.0) -> Tensor | float:
    """FLOPs of one node for counts per image (tensors ``(B,)`` or numbers); see the module's table.
    ``runs_mixer``: 1 where a dense mixer node runs its block (some query), else 0."""
    c, h = sc.dim, sc.hidden
    out = 6 * c * n_active
    if sc.mixer_flops is None:
        out = out + 4 * c * c * n_keys + (4 * c * c + 4 * c * h) * n_q + 4 * c * n_q * n_keys
    else:
        out = out + sc.mixer_flops * runs_mixer + 4 * c * h * n_q
    if sc.next_dim is not None:
        out = out + 8 * c * sc.next_dim * n_coarse
    return out


def full_node_flops(sc: ScaleCost) -> float:
    """One node holding every token and executing every edge."""
    n = float(sc.tokens)
    value = node_flops(sc, n_active=n, n_keys=n, n_q=n, n_coarse=float(sc.next_tokens or 0))
    return float(value)


def grid_max_flops(scales: list[ScaleCost], num_layers: int) -> float:
    """C_max: every node of the L x S grid full (per image)."""
    return num_layers * sum(full_node_flops(sc) for sc in scales)


def path_flops(scales: list[ScaleCost], path: list[list[str]], reached: list[list[bool]],
               keys: str = "active") -> float:
    """Grid FLOPs per image of a static path (every token of a reached node takes the node's edges)."""
    total = 0.0
    for row, alive in zip(path, reached, strict=True):
        for sc, edges, has in zip(scales, row, alive, strict=True):
            if not has:
                continue
            n = float(sc.tokens)
            n_q = n if "T" in edges else 0.0
            n_k = (n if n_q else 0.0) if keys == "active" else n_q
            coarse = float(sc.next_tokens or 0) if "D" in edges else 0.0
            total += float(node_flops(sc, n_active=n, n_keys=n_k, n_q=n_q, n_coarse=coarse,
                                      runs_mixer=1.0 if n_q else 0.0))
    return total


def straight_through(hard: Tensor, soft: Tensor) -> Tensor:
    """``hard`` in value, ``soft``'s gradient: ``hard + soft - sg(soft)``."""
    return hard.to(soft.dtype) + soft - soft.detach()


def count(mask: Tensor) -> Tensor:
    """Tokens per image of a ``(B, H, W)`` mask, as float ``(B,)``."""
    return mask.flatten(1).to(torch.float32).sum(1)
