"""The fixed 3x3 edge filters of CFSR's edge-preserving branches (paper sec. III-C, after ECBSR).

Indices are ``(row, col)``. ``variant='released'`` reproduces the masks of the official code
(``basicsr/archs/cfsr_arch.py``, ``mask_sobel_x`` / ``mask_sobel_y`` / ``mask_laplacian``) exactly:

* ``sobel_y``: ``[[1, 2, 1], [0, 0, 0], [-1, -2, -1]]`` (the standard one);
* ``sobel_x``: ``+1`` at (0, 1), ``+2`` at (1, 0), ``+1`` at (2, 0), ``-1/-2/-1`` down column 2 — it sums to
  zero but is not the transpose of ``sobel_y`` (the textbook one has ``+1`` at (0, 0));
* ``laplacian``: ``+1`` at (0, 0), (1, 0), (1, 2), (2, 1) and ``-4`` at (1, 1) (the 4-neighbour Laplacian has
  ``+1`` at (0, 1) instead of (0, 0)).

These look like index slips relative to ECBSR; ``variant='textbook'`` gives ECBSR's standard filters
(``sobel_x = sobel_y^T``, the 4-neighbour Laplacian). Both variants sum to zero, so a branch responds to
edges and not to flat regions; after merging, either is just part of one 3x3 depthwise kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["RELEASED", "TEXTBOOK", "edge_kernel", "edge_stack"]

RELEASED: dict[str, list[list[float]]] = {
    "sobel_x": [[0.0, 1.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],
    "sobel_y": [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]],
    "laplacian": [[1.0, 0.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],
}
TEXTBOOK: dict[str, list[list[float]]] = {
    "sobel_x": [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],
    "sobel_y": [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]],
    "laplacian": [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],
}
_VARIANTS = {"released": RELEASED, "textbook": TEXTBOOK}


def edge_kernel(name: str, variant: str = "released") -> Tensor:
    """The ``(3, 3)`` float32 filter ``name`` (``sobel_x``, ``sobel_y``, ``laplacian``) of ``variant``."""
    try:
        table = _VARIANTS[variant]
    except KeyError:
        raise ValueError(f"unknown kernel variant {variant!r}; choose 'released' or 'textbook'") from None
    if name not in table:
        raise ValueError(f"unknown edge kernel {name!r}; choose from {', '.join(table)}")
    return torch.tensor(table[name], dtype=torch.float32)


def edge_stack(names: Sequence[str], variant: str = "released") -> Tensor:
    """``(E, 3, 3)``: the filters ``names`` stacked (``(0, 3, 3)`` for none)."""
    if not names:
        return torch.zeros(0, 3, 3)
    return torch.stack([edge_kernel(n, variant) for n in names])
