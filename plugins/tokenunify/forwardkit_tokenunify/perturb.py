"""EM-specific perturbations of the autoregressive stage's *input* (official ``main_pretrain_autoregress``: with
probability 0.5 the sample is degraded by blur, missing sections and similar artefacts; the next-all target stays
the clean volume). Our three, one drawn per perturbed sample, on channels-last ``(B, *spatial, C)``:

* ``blur``: a Gaussian blur (sigma 1 px, 5-tap separable kernel, over every spatial axis but the section axis of
  3-D stacks, as out-of-focus sections are blurred within the section);
* ``missing_section``: a section set to 0 (3-D: one slice of the first axis; 2-D: a band of ``max(1, H // 16)``
  rows, the 2-D picture of a lost section);
* ``contrast``: ``(x - mean) * a + mean + b`` with ``a ~ U(0.6, 1.4)``, ``b ~ U(-0.15, 0.15)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

OPS = ("blur", "missing_section", "contrast")


def _gauss_kernel(sigma: float = 1.0, taps: int = 5) -> Tensor:
    r = torch.arange(taps, dtype=torch.float32) - taps // 2
    k = torch.exp(-0.5 * (r / sigma) ** 2)
    return k / k.sum()


def blur(x: Tensor) -> Tensor:
    """Gaussian blur of ``x`` ``(B, *spatial, C)`` (replicate padding); 3-D: within each section."""
    rank = x.dim() - 2
    axes = list(range(1, rank + 1))
    if rank == 3:
        axes = axes[1:]
    k = _gauss_kernel().to(x)
    out = x
    for axis in axes:
        moved = out.movedim(axis, -1)  # the blurred axis last
        shape = moved.shape
        flat = moved.reshape(-1, 1, shape[-1])
        flat = F.conv1d(F.pad(flat, (2, 2), mode="replicate"), k.view(1, 1, -1))
        out = flat.reshape(shape).movedim(-1, axis)
    return out


def missing_section(x: Tensor, index: int) -> Tensor:
    """``x`` ``(1, *spatial, C)`` with section ``index`` of the first spatial axis set to 0 (2-D: a band)."""
    out = x.clone()
    if x.dim() - 2 == 3:
        out[:, index] = 0
    else:
        h = x.shape[1]
        band = max(1, h // 16)
        start = min(index, h - band)
        out[:, start:start + band] = 0
    return out


def contrast(x: Tensor, a: float, b: float) -> Tensor:
    """``(x - mean) * a + mean + b`` per sample."""
    mean = x.mean()
    return (x - mean) * a + mean + b


def perturb(x: Tensor, prob: float, ops: Sequence[str], *, generator: torch.Generator | None = None,
            ) -> tuple[Tensor, Tensor]:
    """Each sample of ``x`` ``(B, *spatial, C)`` is perturbed with probability ``prob`` by one op drawn from
    ``ops``; returns ``(perturbed copy, which (B,) bool)``. Draws in a fixed order from ``generator``; the samples
    of one op are processed together."""
    b = x.shape[0]
    which = torch.rand(b, generator=generator) < prob
    choice = torch.randint(0, len(ops), (b,), generator=generator)
    params = torch.rand(b, 3, generator=generator)
    if not bool(which.any()):
        return x, which
    out = x.clone()
    for j, op in enumerate(ops):
        rows = torch.nonzero(which & (choice == j)).flatten().tolist()
        if not rows:
            continue
        if op == "blur":
            out[rows] = blur(x[rows])
        elif op == "missing_section":
            for i in rows:
                out[i : i + 1] = missing_section(x[i : i + 1], int(params[i, 0] * x.shape[1]))
        elif op == "contrast":
            for i in rows:
                out[i : i + 1] = contrast(x[i : i + 1], 0.6 + 0.8 * float(params[i, 1]),
                                          -0.15 + 0.3 * float(params[i, 2]))
        else:  # pragma: no cover - the config validates the names
            raise ValueError(f"unknown perturbation {op!r} (known: {', '.join(OPS)})")
    return out, which
