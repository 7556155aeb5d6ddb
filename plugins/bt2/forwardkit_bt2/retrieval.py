"""Compatibility evaluation (official ``utils/eval_utils.py``, ``cmc_evaluate``): the test set is both query and
gallery, a sample never retrieves itself, and two models compare on the first ``m = min(dim q, dim g)``
coordinates: ``score = <q[:, :m], g[:, :m]>`` (distance ``1 - score``), the slices not re-normalised unless
``renormalize_slices``. Reported: CMC top-k (a sample of the query's class among the k nearest) and mAP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_bt2.basis_transform import find_head
from forwardkit_bt2.config import CompatRetrievalConfig
from forwardkit_bt2.embeddings import embed


def retrieval_scores(query: Tensor, gallery: Tensor, *, renormalize: bool = False) -> Tensor:
    """``(Nq, Ng)`` scores of ``query`` ``(Nq, Dq)`` against ``gallery`` ``(Ng, Dg)`` on the common prefix."""
    m = min(query.shape[1], gallery.shape[1])
    q, g = query[:, :m], gallery[:, :m]
    if renormalize:
        q, g = F.normalize(q, dim=1), F.normalize(g, dim=1)
    return q @ g.T


def retrieval_metrics(query: Tensor, gallery: Tensor, q_labels: Tensor, g_labels: Tensor, *,
                      topk: Sequence[int] = (1, 5), same_samples: bool = True,
                      renormalize: bool = False) -> dict[str, float]:
    """CMC top-k and mAP of ``query`` ``(N, Dq)`` against ``gallery`` ``(N', Dg)`` with labels ``(N,)``, ``(N',)``.

    ``same_samples``: row ``i`` of both is the same sample, excluded from its own ranking (query = gallery = the
    test set). mAP averages, over queries with at least one relevant gallery item, the precision at each
    relevant rank. Ties keep the gallery order (stable sort).
    """
    scores = retrieval_scores(query, gallery, renormalize=renormalize).double()
    relevant = (q_labels[:, None] == g_labels[None, :])
    if same_samples:
        n = min(scores.shape)
        eye = torch.zeros_like(relevant)
        eye[torch.arange(n), torch.arange(n)] = True
        scores = scores.masked_fill(eye, float("-inf"))
        relevant = relevant & ~eye
    order = torch.sort(-scores, dim=1, stable=True).indices
    ranked = relevant.gather(1, order)  # (Nq, Ng): relevance in rank order (the sample itself: last, irrelevant)
    out: dict[str, float] = {}
    for k in topk:
        out[f"top{k}"] = float(ranked[:, :k].any(dim=1).double().mean())
    hits = ranked.double()
    cum = hits.cumsum(dim=1)
    ranks = torch.arange(1, hits.shape[1] + 1, dtype=torch.float64)
    n_rel = hits.sum(dim=1)
    ap = (hits * cum / ranks).sum(dim=1) / n_rel.clamp(min=1)
    has = n_rel > 0
    out["map"] = float(ap[has].mean()) if bool(has.any()) else 0.0
    return out


def _members(model: nn.Module) -> dict[str, nn.Module]:
    members = getattr(model, "members", None)
    return dict(members.items()) if isinstance(members, nn.ModuleDict) else {"model": model}


def default_pairs(names: Sequence[str], gallery: str) -> list[tuple[str, str]]:
    """Every member against itself, then every other member as query against ``gallery``."""
    pairs = [(n, n) for n in names]
    if gallery in names:
        pairs += [(n, gallery) for n in names if n != gallery]
    return pairs


@torch.no_grad()
def embed_all(model: nn.Module, data: Iterable[Mapping[str, Tensor]], max_samples: int | None = None,
              ) -> tuple[dict[str, Tensor], Tensor]:
    """Every member's embeddings of the batches ``data`` (eval mode, orthogonal maps computed once) and labels."""
    members = _members(model)
    was = model.training
    model.eval()
    out: dict[str, list[Tensor]] = {n: [] for n in members}
    labels: list[Tensor] = []
    seen = 0
    try:
        with parametrize.cached():
            for batch in data:
                x, y = batch["x"], batch["y"]
                if max_samples is not None:
                    x, y = x[: max_samples - seen], y[: max_samples - seen]
                if len(x) == 0:
                    break
                for name, member in members.items():
                    out[name].append(embed(member, x).float().cpu())
                labels.append(y.cpu())
                seen += len(x)
    finally:
        model.train(was)
    return {n: torch.cat(v) for n, v in out.items()}, torch.cat(labels)


class CompatRetrieval(Analyzer):
    """``compat_retrieval``: the compatibility table of a ``compat_system`` (or one model against itself).

    Numbers ``top<k>/<query>-<gallery>`` and ``map/<query>-<gallery>``; a table ``compatibility`` with one row per
    pair; for every member with a BasisTransformHead, ``unused_old_branch/<member>``: the share of the old
    branch's outputs the head never reads (only ``a[:, :k]`` enters ``u``; kept for fidelity with the code).
    """

    Config = CompatRetrievalConfig
    config: CompatRetrievalConfig

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        cfg = self.config
        if data is None:
            from forwardkit.data import example_batch

            data = [example_batch(None, model)]
        embs, labels = embed_all(model, data, cfg.max_samples)
        names = list(embs)
        pairs = cfg.pairs or default_pairs(names, cfg.gallery)
        unknown = sorted({n for p in pairs for n in p} - set(names))
        if unknown:
            raise ValueError(f"compat_retrieval: pairs name members that do not exist: {', '.join(unknown)} "
                             f"(members: {', '.join(names)})")
        numbers: dict[str, float] = {}
        rows: list[dict[str, Any]] = []
        for q, g in pairs:
            found = retrieval_metrics(embs[q], embs[g], labels, labels, topk=cfg.topk, same_samples=True,
                                      renormalize=cfg.renormalize_slices)
            for key, value in found.items():
                numbers[f"{key}/{q}-{g}"] = value
            rows.append({"query": q, "gallery": g, "dims": min(embs[q].shape[1], embs[g].shape[1]), **found})
        for name, member in _members(model).items():
            head = find_head(member)
            if head is not None:
                width = max(head.config.d_old, head.config.to_add)
                numbers[f"unused_old_branch/{name}"] = (width - head.config.to_add) / width
        numbers["samples"] = float(len(labels))
        return Analysis(numbers=numbers, tables={"compatibility": rows})
