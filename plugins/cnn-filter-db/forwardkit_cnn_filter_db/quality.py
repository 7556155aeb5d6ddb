"""Degeneracy measures of a layer's filters (paper Sec. 5, "Filter degeneration") and ``FilterQuality``.

The three measures follow the authors' library (torchconvquality) exactly:

* sparsity (eq. S): filter ``k`` of a layer is sparse iff every ``|w_kj| < eps * max |W|``;
* variance entropy (eq. VE): ``H = -sum_i r_i log r_i`` with ``r_i`` the shares of variance along the
  principal axes of the centred ``(N, 9)`` filter matrix; ``0 <= H <= log 9``; the normalised
  ``H / tau(N)`` divides by the entropy random filters reach at ``N`` (an empirical logistic fit);
* orthogonality (eq. O): ``1 - sum |C - I| / (n (n - 1))`` over the cosine-similarity matrix ``C`` of
  the whole output filters ``(c_out, c_in/g * 9)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from torch import nn

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_cnn_filter_db.config import FilterQualityConfig
from forwardkit_cnn_filter_db.extract import extract_table

__all__ = [
    "FilterQuality",
    "TAU_PARAMS",
    "entropy_baseline",
    "layer_quality",
    "normalized_variance_entropy",
    "orthogonality",
    "sparsity",
    "variance_entropy",
]

#: (Lc, x0, k, b) of tau(N) = Lc / (1 + exp(-k (log2 N - x0))) + b, the entropy of N random filters
TAU_PARAMS = (1.2618047, 2.30436435, 0.88767525, -0.31050834)


def _rows(weight: np.ndarray) -> np.ndarray:
    """``(..., kh, kw)`` kernels (or already ``(N, k)`` rows) as rows ``(N, kh * kw)`` of float64."""
    w = np.asarray(weight, dtype=np.float64)
    return w.reshape(-1, w.shape[-2] * w.shape[-1]) if w.ndim > 2 else w.reshape(len(w), -1)


def sparsity(weight: np.ndarray, eps: float = 0.01) -> tuple[float, np.ndarray]:
    """Share of sparse filters and the mask ``(N,)``: filter ``k`` is sparse iff all ``|w| < t`` with
    ``t = eps * max |W|`` over the layer (``t = 1`` if the layer is all zero). ``weight`` is a layer's
    kernels ``(c_out, c_in/g, kh, kw)`` or rows ``(N, k)``."""
    rows = _rows(weight)
    if rows.size == 0:
        return 0.0, np.zeros(len(rows), bool)
    t = eps * float(np.abs(rows).max())
    if t == 0.0:
        t = 1.0
    mask = np.all(np.abs(rows) < t, axis=1)
    return float(mask.mean()), mask


def variance_entropy(weight: np.ndarray, log_base: float = 10.0) -> float:
    """Variance entropy of the filter rows ``(N, k)`` (or kernels ``(..., kh, kw)``).

    Columns are centred, ``v_i = s_i^2 / (N - 1)`` from the singular values, ``r_i = v_i / sum v`` and
    ``H = -sum r_i log_b r_i`` with ``0 log 0 := 0``; ``H = 0`` for ``N < 2`` or zero total variance.
    """
    rows = _rows(weight)
    n = len(rows)
    if n < 2:
        return 0.0
    centred = rows - rows.mean(axis=0, keepdims=True)
    s = np.linalg.svd(centred, compute_uv=False)
    v = s**2 / (n - 1)
    total = float(v.sum())
    if total <= 0.0 or not math.isfinite(total):
        return 0.0
    r = v / total
    r = r[r > 0]
    return float(max(0.0, -(r * np.log(r)).sum() / math.log(log_base)))


def entropy_baseline(n: int | float) -> float:
    """``tau(N) = Lc / (1 + exp(-k (log2 N - x0))) + b``: the (log10) variance entropy of ``N`` i.i.d.
    random filters, the normaliser of :func:`normalized_variance_entropy`."""
    lc, x0, k, b = TAU_PARAMS
    return lc / (1.0 + math.exp(-k * (math.log2(n) - x0))) + b


def normalized_variance_entropy(weight: np.ndarray, log_base: float = 10.0) -> float:
    """``H / tau(N)`` (``log_base`` 10; other bases are rescaled to log10 units first); 0 where ``tau(N) <= 0``
    (``N <= 2``): about 1 for random-like filters, near 0 for filters that vary along one shape."""
    rows = _rows(weight)
    tau = entropy_baseline(len(rows)) if len(rows) else 0.0
    if tau <= 0.0:
        return 0.0
    h10 = variance_entropy(rows, log_base) * math.log(log_base) / math.log(10.0)
    return h10 / tau


def orthogonality(weight: np.ndarray) -> float:
    """``1 - sum_{a,b} |C - I|_ab / (n (n - 1))`` with ``C = W_n W_n^T`` over the L2-normalised output
    filters ``W`` ``(c_out, c_in/g * kh * kw)`` (eq. O). As in torchconvquality an all-zero output filter
    stays zero, so its diagonal entry contributes ``|0 - 1| = 1`` (it lowers the score); a layer with a
    single output filter scores 1."""
    w = np.asarray(weight, dtype=np.float64)
    w = w.reshape(w.shape[0], -1)
    n = w.shape[0]
    if n < 2:
        return 1.0
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    wn = np.divide(w, norms, out=np.zeros_like(w), where=norms > 0)
    c = wn @ wn.T
    return float(1.0 - np.abs(c - np.eye(n)).sum() / (n * (n - 1)))


def layer_quality(weight: np.ndarray, config: FilterQualityConfig | None = None) -> dict[str, Any]:
    """All measures of one layer ``weight`` ``(c_out, c_in/g, kh, kw)`` and its degeneracy flag."""
    cfg = config or FilterQualityConfig()
    rows = _rows(weight)
    sp, mask = sparsity(rows, cfg.sparsity_eps)
    too_few = len(rows) < cfg.min_filters
    ve = 0.0 if too_few else variance_entropy(rows, cfg.log_base)
    ve_norm = 0.0 if too_few else normalized_variance_entropy(rows, cfg.log_base)
    clean = rows[~mask]
    ve_clean = variance_entropy(clean, cfg.log_base) if len(clean) >= cfg.min_filters else 0.0
    ve_clean_norm = normalized_variance_entropy(clean, cfg.log_base) if len(clean) >= cfg.min_filters else 0.0
    orth = orthogonality(weight) if np.ndim(weight) > 2 else orthogonality(rows)
    th = cfg.thresholds
    reasons = []
    if sp > th.sparsity:
        reasons.append("sparse")
    if ve_norm > th.ve_high:
        reasons.append("random-like")
    if not too_few and ve_norm < th.ve_low:
        reasons.append("low-diversity")
    return {
        "n_filters": len(rows), "sparsity": sp, "ve": ve, "ve_norm": ve_norm, "ve_clean": ve_clean,
        "ve_clean_norm": ve_clean_norm, "orthogonality": orth, "degenerate": float(bool(reasons)),
        "reasons": "+".join(reasons) or "ok",
    }


class FilterQuality(Analyzer):
    """Per-layer sparsity, variance entropy (raw, normalised, clean), orthogonality and degeneracy flag
    of every 3x3 conv (paper Sec. 5). Numbers: ``layer<i>/<measure>`` (layers ordered by conv depth),
    ``mean/<measure>``, ``degenerate_layers``, ``degenerate_fraction``, ``n_layers``."""

    Config = FilterQualityConfig
    config: FilterQualityConfig

    def quality_rows(self, model: nn.Module, data: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        """One row per selected layer: its metadata and :func:`layer_quality`."""
        table = extract_table(model, self.config, data=data)
        return [{**layer.info(), **layer_quality(layer.weight, self.config)} for layer in table.layers]

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        rows = self.quality_rows(model, data)
        measures = ("sparsity", "ve", "ve_norm", "ve_clean", "ve_clean_norm", "orthogonality", "degenerate")
        numbers: dict[str, float] = {"n_layers": float(len(rows))}
        for row in rows:
            for m in measures:
                numbers[f"layer{row['layer']}/{m}"] = float(row[m])
        if rows:
            for m in measures[:-1]:
                numbers[f"mean/{m}"] = float(np.mean([r[m] for r in rows]))
            bad = sum(int(r["degenerate"]) for r in rows)
            numbers["degenerate_layers"] = float(bad)
            numbers["degenerate_fraction"] = bad / len(rows)
        figures = {}
        if self.config.plots and rows:
            from forwardkit_cnn_filter_db.plots import quality_figure

            figures["quality"] = quality_figure(rows, self.config.thresholds.model_dump())
        return Analysis(numbers=numbers, tables={"layers": rows}, figures=figures)
