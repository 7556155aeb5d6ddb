"""ScheduledDropPath (paper sec. 4.1; the authors' ``_apply_drop_path`` "v3" and ``drop_path``), functional forms.

For the output ``x`` of an operation (not an identity path) in cell ``c`` (0-based, stem cells counted) of ``C``
cells, at global step ``t`` of ``T``::

    keep_c = 1 - ((c + 1) / C) * (1 - keep_prob)        # layer scaling ("v2"/"v3"): deeper cells drop more
    keep_t = 1 - min(1, t / T) * (1 - keep_c)            # linear in training time ("v1"/"v3")
    out    = x * floor(keep_t + U) / keep_t,   U ~ Uniform[0, 1) of shape (B, 1, 1, 1)

so each example's path is kept with probability ``keep_t`` and rescaled, ``E[out] = x``. Off in evaluation.
"""

from __future__ import annotations

import torch
from torch import Tensor


def cell_keep_prob(keep_prob: float, cell_index: int, total_cells: int, *, layer_scaling: bool = True) -> float:
    """``keep_c``: the final keep probability of cell ``cell_index`` of ``total_cells`` (``keep_prob`` for every
    cell without layer scaling)."""
    if not layer_scaling:
        return keep_prob
    return 1.0 - (cell_index + 1) / float(total_cells) * (1.0 - keep_prob)


def scheduled_keep_prob(keep_prob: float, cell_index: int, total_cells: int, step: int, total_steps: int, *,
                        layer_scaling: bool = True) -> float:
    """``keep_t`` of the module docstring: 1 at ``step = 0``, ``keep_c`` from ``step >= total_steps`` on."""
    keep_c = cell_keep_prob(keep_prob, cell_index, total_cells, layer_scaling=layer_scaling)
    ratio = min(1.0, step / float(max(total_steps, 1)))
    return 1.0 - ratio * (1.0 - keep_c)


def drop_path(x: Tensor, keep_prob: float, *, training: bool = True,
              generator: torch.Generator | None = None) -> Tensor:
    """Drop the whole path of each example with probability ``1 - keep_prob`` and divide the kept ones by
    ``keep_prob`` (TF ``drop_path``): ``x`` is ``(B, ...)``, the mask ``(B, 1, ..., 1)``. Identity when not
    training or ``keep_prob >= 1``."""
    if not training or keep_prob >= 1.0:
        return x
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    noise = torch.rand(shape, dtype=x.dtype, device=x.device, generator=generator)
    mask = torch.floor(keep_prob + noise)
    return x / keep_prob * mask
