"""Figures of the analyzers and the zoo study (matplotlib, Agg backend; figures are returned, not shown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["density_figure", "filter_grid", "kl_heatmap", "principal_components_figure", "quality_figure"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def filter_grid(filters: np.ndarray, kernel: tuple[int, int] = (3, 3), *, limit: int = 64, title: str = "") -> Any:
    """Up to ``limit`` filters ``(N, kh * kw)`` as small images (each scaled by its own peak)."""
    plt = _plt()
    f = np.asarray(filters[:limit], dtype=np.float64)
    n = max(len(f), 1)
    cols = min(8, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8 + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(f):
            peak = np.abs(f[k]).max() or 1.0
            ax.imshow(f[k].reshape(kernel) / peak, cmap="RdBu_r", vmin=-1, vmax=1)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def principal_components_figure(filters: np.ndarray) -> Any:
    """The 9 principal axes of the peak-scaled filters ``(N, 9)`` with their explained-variance ratios."""
    from forwardkit_cnn_filter_db.shift import peak_scale, pooled_pca

    plt = _plt()
    pca = pooled_pca([peak_scale(filters)])
    fig, axes = plt.subplots(1, 9, figsize=(9, 1.4))
    for i, ax in enumerate(axes):
        ax.imshow(pca.components[i].reshape(3, 3), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"{pca.ratios[i]:.2f}", fontsize=7)
        ax.axis("off")
    fig.suptitle("principal axes of the peak-scaled filters (explained-variance ratio)", fontsize=8)
    return fig


def quality_figure(rows: Sequence[Mapping[str, Any]], thresholds: Mapping[str, float]) -> Any:
    """Sparsity, normalised variance entropy and orthogonality per layer, with the degeneracy thresholds."""
    plt = _plt()
    x = np.arange(len(rows))
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
    for ax, key, lines in (
        (axes[0], "sparsity", [thresholds["sparsity"]]),
        (axes[1], "ve_norm", [thresholds["ve_low"], thresholds["ve_high"]]),
        (axes[2], "orthogonality", []),
    ):
        colors = ["tab:red" if r["degenerate"] else "tab:blue" for r in rows]
        ax.bar(x, [r[key] for r in rows], color=colors)
        for t in lines:
            ax.axhline(t, ls="--", c="gray", lw=0.8)
        ax.set_xticks(x, [str(r["layer"]) for r in rows])
        ax.set_xlabel("3x3 layer (by conv depth)")
        ax.set_title(key)
    fig.suptitle("filter quality per layer (red: degenerate)", fontsize=9)
    fig.tight_layout()
    return fig


def kl_heatmap(matrix: np.ndarray, names: Sequence[str], *, title: str = "") -> Any:
    """A labelled heatmap of a KL matrix ``(g, g)``."""
    plt = _plt()
    g = len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * g, 0.8 + 0.6 * g))
    im = ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(g), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(g), names, fontsize=7)
    if g <= 12:
        for i in range(g):
            for j in range(g):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
    fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        ax.set_title(title, fontsize=8)
    return fig


def density_figure(shift: Any, components: int = 3) -> Any:
    """KDE densities of the first ``components`` principal coefficients per group of a ``ShiftMatrix``."""
    plt = _plt()
    fig, axes = plt.subplots(1, components, figsize=(3.2 * components, 2.6), squeeze=False)
    for i, ax in enumerate(axes[0]):
        for name in shift.names:
            ax.plot(shift.grid, shift.densities[name][i], lw=1, label=name)
        ax.set_title(f"PC{i} (ratio {shift.pca.ratios[i]:.2f})", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    return fig
