"""``intra_class_modes``: how much intra-class (sub-class) structure survives in a pre-trained backbone's features.

The card's analyzer, on the features ``f`` ``(N, D)`` of the analysed data (the input of ``feature_layer``), with
their fine labels (downstream, e.g. the digit) and coarse labels (upstream, e.g. the parity):

(a) ``knn_accuracy``: leave-one-out cosine k-NN (majority vote) accuracy on the fine labels; ``probe_accuracy``: a
    multinomial logistic-regression probe (scikit-learn) on the L2-normalised features, fitted on the first
    ``probe_per_class`` samples of each fine class and scored on the rest;
(b) ``within_between_ratio``: mean cosine distance between samples of the same coarse class over the mean between
    samples of different coarse classes (lower: tighter classes); ``subclass_spread``: inside each coarse class, the
    mean distance between different fine classes over the mean within one fine class (higher: sub-classes apart);
(c) ``subclass_purity``: for each sample, the share of its ``purity_k`` nearest neighbours *of its own coarse class*
    that have its fine label, averaged (chance: 1 / fine classes per coarse class; 1: every sub-class its own mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_look_pretraining.config import IntraClassModesConfig
from forwardkit_look_pretraining.tap import tapped_forward

__all__ = ["IntraClassModes", "intra_class_modes", "knn_accuracy", "subclass_purity", "within_between_ratio"]


def _cosine(f: Tensor) -> Tensor:
    u = F.normalize(f.double(), dim=1)
    return u @ u.T


def knn_accuracy(f: Tensor, labels: Tensor, *, k: int) -> float:
    """Leave-one-out k-NN accuracy of ``labels`` ``(N,)`` with cosine similarity on ``f`` ``(N, D)`` (majority vote;
    a tie goes to the class of the nearer neighbour)."""
    n = f.shape[0]
    if n < 2:
        return float("nan")
    s = _cosine(f).fill_diagonal_(float("-inf"))
    kk = min(k, n - 1)
    _, nb = s.topk(kk, dim=1)
    lab = labels[nb]
    classes = int(labels.max()) + 1
    votes = torch.zeros(n, classes, dtype=torch.float64).scatter_add_(1, lab, torch.ones_like(lab, dtype=torch.float64))
    votes += torch.zeros_like(votes).scatter_(1, lab[:, :1], 1e-3)  # tie-break: the nearest neighbour's class
    return float((votes.argmax(dim=1) == labels).double().mean())


def within_between_ratio(f: Tensor, labels: Tensor) -> float:
    """Mean cosine distance within classes over the mean between classes (pairs i != j), ``f`` ``(N, D)``."""
    d = 1.0 - _cosine(f)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    off = ~torch.eye(len(labels), dtype=torch.bool)
    within, between = d[same & off], d[~same]
    if within.numel() == 0 or between.numel() == 0:
        return float("nan")
    return float(within.mean() / between.mean().clamp_min(1e-12))


def subclass_spread(f: Tensor, fine: Tensor, coarse: Tensor) -> float:
    """Inside each coarse class: mean distance between different fine classes over the mean within one fine class
    (pairs of one coarse class only), averaged over the coarse classes that have both kinds of pairs."""
    d = 1.0 - _cosine(f)
    ratios = []
    for c in coarse.unique():
        rows = coarse == c
        dd, ff = d[rows][:, rows], fine[rows]
        same = ff.unsqueeze(0) == ff.unsqueeze(1)
        off = ~torch.eye(len(ff), dtype=torch.bool)
        w, b = dd[same & off], dd[~same]
        if w.numel() and b.numel():
            ratios.append(float(b.mean() / w.mean().clamp_min(1e-12)))
    return sum(ratios) / len(ratios) if ratios else float("nan")


def subclass_purity(f: Tensor, fine: Tensor, coarse: Tensor, *, k: int) -> tuple[float, dict[int, float]]:
    """(c): mean over samples of the share of its k nearest same-coarse-class neighbours (itself excluded) with its
    fine label; also per coarse class."""
    s = _cosine(f).fill_diagonal_(float("-inf"))
    s = s.masked_fill(coarse.unsqueeze(0) != coarse.unsqueeze(1), float("-inf"))
    per_row = torch.full((f.shape[0],), float("nan"), dtype=torch.float64)
    for c in coarse.unique():
        rows = torch.nonzero(coarse == c).squeeze(1)
        kk = min(k, len(rows) - 1)
        if kk < 1:
            continue
        _, nb = s[rows].topk(kk, dim=1)
        per_row[rows] = (fine[nb] == fine[rows].unsqueeze(1)).double().mean(dim=1)
    ok = ~torch.isnan(per_row)
    per_class = {int(c): float(per_row[(coarse == c) & ok].mean()) for c in coarse.unique()
                 if bool(((coarse == c) & ok).any())}
    return (float(per_row[ok].mean()) if bool(ok.any()) else float("nan")), per_class


def probe_accuracy(f: Tensor, fine: Tensor, *, per_class: int, c: float = 1.0, max_iter: int = 1000) -> float | None:
    """(a) logistic-regression probe: fitted on the first ``per_class`` samples of every fine class, scored on the
    rest; None when some class has no sample left to score or fewer than two classes are present."""
    from sklearn.linear_model import LogisticRegression

    u = F.normalize(f.double(), dim=1).numpy()
    y = fine.numpy()
    fit = torch.zeros(len(y), dtype=torch.bool)
    for cls in fine.unique():
        rows = torch.nonzero(fine == cls).squeeze(1)
        if len(rows) <= per_class:
            return None
        fit[rows[:per_class]] = True
    if len(fine.unique()) < 2:
        return None
    clf = LogisticRegression(C=c, max_iter=max_iter)
    clf.fit(u[fit.numpy()], y[fit.numpy()])
    return float((clf.predict(u[~fit.numpy()]) == y[~fit.numpy()]).mean())


def intra_class_modes(f: Tensor, fine: Tensor, coarse: Tensor, *, k: int = 10, purity_k: int = 10,
                      probe_per_class: int = 50, probe_c: float = 1.0, probe_max_iter: int = 1000,
                      ) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The analyzer's numbers (module docstring) and a per-coarse-class table from ``f`` ``(N, D)``, ``fine`` and
    ``coarse`` ``(N,)``; numbers that cannot be computed on this data are left out."""
    f, fine, coarse = f.detach().cpu(), fine.detach().cpu().long(), coarse.detach().cpu().long()
    purity, per_class = subclass_purity(f, fine, coarse, k=purity_k)
    numbers = {"knn_accuracy": knn_accuracy(f, fine, k=k), "coarse_knn_accuracy": knn_accuracy(f, coarse, k=k),
               "within_between_ratio": within_between_ratio(f, coarse),
               "subclass_spread": subclass_spread(f, fine, coarse), "subclass_purity": purity,
               "samples": float(len(fine))}
    probe = probe_accuracy(f, fine, per_class=probe_per_class, c=probe_c, max_iter=probe_max_iter)
    if probe is not None:
        numbers["probe_accuracy"] = probe
    chance = {int(c): 1.0 / len(fine[coarse == c].unique()) for c in coarse.unique()}
    table = [{"coarse_class": c, "subclass_purity": v, "chance": chance[c]} for c, v in sorted(per_class.items())]
    return {k_: v for k_, v in numbers.items() if v == v}, table


class IntraClassModes(Analyzer):
    """``intra_class_modes``: reads the features of ``feature_layer`` on the analysed batches (the trainer gives the
    test split's first batches) and measures the intra-class structure (module docstring)."""

    Config = IntraClassModesConfig
    config: IntraClassModesConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (
        {"name": "look_cnn", "widths": [4, 8], "pool_blocks": 1, "image_size": 8},)

    @torch.no_grad()
    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        c = self.config
        if data is None:
            example = getattr(model, "example_batch", None)
            if example is None:
                raise ValueError("intra_class_modes needs data (batches with x and labels)")
            data = [example(16)]
        feats, fines, coarses = [], [], []
        was = model.training
        model.eval()
        try:
            for batch in data:
                if not isinstance(batch, Mapping):
                    raise ValueError(f"intra_class_modes: batches must be dicts of tensors, got {type(batch).__name__}")
                f, _ = tapped_forward(model, batch, c.feature_layer)
                feats.append(f.float().cpu())
                fines.append(batch.get(c.fine_key, batch["y"]).cpu().long().flatten())
                coarses.append(batch.get(c.coarse_key, batch["y"]).cpu().long().flatten())
        finally:
            model.train(was)
        numbers, table = intra_class_modes(torch.cat(feats), torch.cat(fines), torch.cat(coarses), k=c.k,
                                           purity_k=c.purity_k, probe_per_class=c.probe_per_class, probe_c=c.probe_c,
                                           probe_max_iter=c.probe_max_iter)
        return Analysis(numbers=numbers, tables={"purity_per_coarse_class": table})
