"""Random search over the NASNet search space on a proxy task, and the accounting of each candidate.

The paper searches with an RL controller (an LSTM emitting the 2 x 5B decisions, PPO on child-network accuracy,
~2,000 GPU-days); that is beyond a CPU. What is feasible (spec card): seeded random cell pairs of the same search
space (:func:`~forwardkit_nasnet.genotypes.random_pair`; the paper reports random search as a strong baseline,
Fig. 6), each in the same network skeleton (``filters``, ``num_cells``), trained ``proxy_epochs`` with SGD
(momentum 0.9, cosine learning rate, weight decay, the authors' gradient-norm clip 5) and ranked by proxy
validation accuracy; parameters and MACs per image (``forwardkit.measure.count_macs``) for each.

``CellSearch`` is the registered ``cell_search`` analyzer; :func:`random_search` its functional form;
:func:`evaluate_cells` the program the reproduction's arms run (search once per process, then train the chosen
cell pair in the full evaluation experiment).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import forwardkit
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit.measure import count_macs, count_parameters
from forwardkit.reproduce.spec import deep_merge
from forwardkit_nasnet.config import CellSearchConfig
from forwardkit_nasnet.genotypes import GENOTYPES, Genotype, describe, random_pair
from forwardkit_nasnet.network import TINY_NASNET, NasNetNetwork


@dataclass(frozen=True)
class Candidate:
    """A cell pair to try: its name, the seed it was drawn from (None for a given one) and its cells."""

    name: str
    seed: int | None
    normal: Genotype
    reduction: Genotype


@dataclass(frozen=True)
class ProxyData:
    """Proxy split as tensors: ``x`` ``(N, H, W, C)`` channels-last images, ``y`` ``(N,)`` class indices."""

    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    num_classes: int


def random_candidates(budget: int, *, seed: int = 0, ops: str = "full13", combines: str = "both") -> list[Candidate]:
    """``budget`` random pairs; candidate i is the pair of seed ``1000 * seed + i``."""
    allowed = ("add", "concat") if combines == "both" else ("add",)
    out = []
    for i in range(budget):
        s = 1000 * seed + i
        normal, reduction = random_pair(s, ops=ops, combines=allowed)
        out.append(Candidate(f"random_{s}", s, normal, reduction))
    return out


def build_candidate(candidate: Candidate, *, filters: int, num_cells: int, stem_multiplier: float,
                    in_channels: int, num_classes: int, image_size: Sequence[int], **extra: Any) -> NasNetNetwork:
    """The candidate's cells in the common skeleton (a CIFAR-style ``nasnet_network``)."""
    return NasNetNetwork(num_cells=num_cells, filters=filters, stem_multiplier=stem_multiplier,
                         in_channels=in_channels, num_classes=num_classes, image_size=list(image_size),
                         normal_cell=candidate.normal.to_dict(), reduction_cell=candidate.reduction.to_dict(), **extra)


def macs_per_image(model: nn.Module, x: Tensor) -> int:
    """Multiply-accumulates of the eval forward of one image ``x`` ``(1, H, W, C)``."""
    was = model.training
    model.eval()
    try:
        return count_macs(lambda: model(x))
    finally:
        model.train(was)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on ``x`` ``(N, H, W, C)``, ``y`` ``(N,)``."""
    model.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
    return correct / max(len(y), 1)


def train_proxy(model: nn.Module, data: ProxyData, *, epochs: int, batch_size: int, lr: float,
                weight_decay: float, seed: int, momentum: float = 0.9, clip: float = 5.0) -> float:
    """Train ``model`` on the proxy's train split (SGD with momentum, cosine learning rate to 0 over every step,
    gradient-norm clip ``clip``; the data order from ``seed``) and return its proxy validation accuracy."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    n = len(data.train_y)
    per_epoch = math.ceil(n / batch_size)
    total, step = epochs * per_epoch, 0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        for i in range(per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            for group in opt.param_groups:
                group["lr"] = 0.5 * lr * (1.0 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            step += 1
    return accuracy(model, data.val_x, data.val_y)


def random_search(candidates: Iterable[Candidate], data: ProxyData, *, filters: int = 8, num_cells: int = 6,
                  stem_multiplier: float = 3.0, epochs: int = 2, batch_size: int = 64, lr: float = 0.025,
                  weight_decay: float = 5e-4, seed: int = 0) -> list[dict[str, Any]]:
    """Train every candidate on the proxy (each built and trained under ``seed``) and rank them by proxy
    validation accuracy (ties: the earlier candidate first). One row per candidate, best first: ``rank``
    (1-based), ``name``, ``seed``, ``proxy_accuracy``, ``params``, ``macs``, the cells in words and as data."""
    image_size = list(data.train_x.shape[1:3])
    in_channels = int(data.train_x.shape[-1])
    rows: list[dict[str, Any]] = []
    for order, cand in enumerate(candidates):
        torch.manual_seed(seed)
        model = build_candidate(cand, filters=filters, num_cells=num_cells, stem_multiplier=stem_multiplier,
                                in_channels=in_channels, num_classes=data.num_classes, image_size=image_size)
        macs = macs_per_image(model, data.train_x[:1])
        acc = train_proxy(model, data, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                          seed=seed)
        rows.append({"name": cand.name, "seed": -1 if cand.seed is None else cand.seed, "order": order,
                     "proxy_accuracy": acc, "params": count_parameters(model), "macs": macs,
                     "penultimate_filters": model.penultimate_filters,
                     "normal": describe(cand.normal), "reduction": describe(cand.reduction),
                     "normal_cell": cand.normal.to_dict(), "reduction_cell": cand.reduction.to_dict()})
    rows.sort(key=lambda r: (-float(r["proxy_accuracy"]), int(r["order"])))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def median_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The median candidate of rows ranked best first: rank ``ceil(n / 2)`` (the lower middle of an even n)."""
    return rows[math.ceil(len(rows) / 2) - 1]


# ---- proxy data ----------------------------------------------------------------------------------------------
def _stack(split: Any) -> tuple[Tensor, Tensor]:
    items = [split[i] for i in range(len(split))]
    return torch.stack([it["x"] for it in items]).float(), torch.stack([it["y"] for it in items]).long()


def dataset_proxy(name: str, config: Mapping[str, Any] | None = None) -> ProxyData:
    """A registered dataset's train and val splits as a :class:`ProxyData` (by registry name)."""
    ds = forwardkit.create("dataset", name, **dict(config or {}))
    train_x, train_y = _stack(ds.split("train"))
    val_x, val_y = _stack(ds.split("val"))
    if len(val_y) == 0:
        raise ValueError(f"dataset {name!r} has an empty val split: set its val_fraction for the proxy ranking")
    classes = ds.metadata.num_classes or int(max(train_y.max(), val_y.max())) + 1
    return ProxyData(train_x, train_y, val_x, val_y, int(classes))


def batches_proxy(batches: Iterable[Mapping[str, Tensor]], num_classes: int | None = None) -> ProxyData:
    """Given batches, the first half of the samples to train and the second to rank."""
    batches = list(batches)
    if not batches:
        raise ValueError("cell_search needs data: batches to split, or config.dataset")
    x = torch.cat([b["x"] for b in batches]).float()
    y = torch.cat([b["y"] for b in batches]).long()
    if x.dim() != 4 or y.dim() != 1:
        raise ValueError(f"cell_search needs (N, H, W, C) images and (N,) class labels, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    half = max(len(y) // 2, 1)
    classes = num_classes or int(y.max()) + 1
    return ProxyData(x[:half], y[:half], x[half:], y[half:], classes)


# ---- the analyzer ----------------------------------------------------------------------------------------------
class CellSearch(Analyzer):
    """``cell_search``: random search over the NASNet search space (with the analysed ``nasnet_network``'s own
    cells as one more candidate when ``include_model``), every candidate in the same skeleton.

    Numbers: ``candidates``, ``best_proxy_accuracy``, ``median_proxy_accuracy``, ``worst_proxy_accuracy``,
    ``mean_proxy_accuracy``, ``best_seed``, ``median_seed`` (of the random candidates) and, with the model,
    ``model_proxy_accuracy``, ``model_rank`` (1 = best of all), ``model_beats_median`` (1 or 0) and
    ``model_params`` / ``model_macs`` and their ratios over the median candidate's. Table ``candidates``; figure
    ``proxy_accuracy``."""

    Config = CellSearchConfig
    config: CellSearchConfig
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"budget_candidates": 2, "proxy_epochs": 1, "filters": 4, "num_cells": 1, "stem_multiplier": 1.0,
         "batch_size": 8, "figure": False},
    )
    conformance_models: ClassVar[tuple[Any, ...]] = (TINY_NASNET, "toy")

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        cfg = self.config
        if cfg.dataset is not None:
            proxy = dataset_proxy(cfg.dataset, cfg.dataset_config)
        else:
            proxy = batches_proxy(data or [], getattr(getattr(model, "config", None), "num_classes", None))
        candidates = random_candidates(cfg.budget_candidates, seed=cfg.seed, ops=cfg.ops, combines=cfg.combines)
        if cfg.include_model and isinstance(model, NasNetNetwork):
            candidates.append(Candidate("model", None, *model.genotypes))
        rows = random_search(candidates, proxy, filters=cfg.filters, num_cells=cfg.num_cells,
                             stem_multiplier=cfg.stem_multiplier, epochs=cfg.proxy_epochs,
                             batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay, seed=cfg.seed)
        return self._analysis(rows)

    def _analysis(self, rows: list[dict[str, Any]]) -> Analysis:
        randoms = [r for r in rows if r["name"] != "model"]
        accs = [r["proxy_accuracy"] for r in randoms]
        med = median_row(randoms)
        numbers: dict[str, float] = {
            "candidates": float(len(randoms)), "best_proxy_accuracy": max(accs),
            "median_proxy_accuracy": float(med["proxy_accuracy"]), "worst_proxy_accuracy": min(accs),
            "mean_proxy_accuracy": sum(accs) / len(accs), "best_seed": float(randoms[0]["seed"]),
            "median_seed": float(med["seed"]),
        }
        own = next((r for r in rows if r["name"] == "model"), None)
        if own is not None:
            numbers.update({"model_proxy_accuracy": own["proxy_accuracy"], "model_rank": float(own["rank"]),
                            "model_beats_median": float(own["proxy_accuracy"] > med["proxy_accuracy"]),
                            "model_params": float(own["params"]), "model_macs": float(own["macs"]),
                            "model_params_over_median": own["params"] / med["params"],
                            "model_macs_over_median": own["macs"] / med["macs"]})
        table = [{k: v for k, v in r.items() if k not in ("normal_cell", "reduction_cell")} for r in rows]
        figures = {"proxy_accuracy": _bars(rows)} if self.config.figure else {}
        return Analysis(numbers=numbers, tables={"candidates": table}, figures=figures)


def _bars(rows: Sequence[Mapping[str, Any]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.5 + 0.35 * len(rows), 3.0))
    colors = ["tab:red" if r["name"] == "model" else "tab:blue" for r in rows]
    ax.bar(range(len(rows)), [r["proxy_accuracy"] for r in rows], color=colors)
    ax.set_xticks(range(len(rows)), [str(r["name"]).replace("random_", "") for r in rows], rotation=90)
    ax.set_ylabel("proxy accuracy")
    ax.set_title("random cells (blue) and the model's cells (red)")
    return fig


# ---- the reproduction's program ------------------------------------------------------------------------------
_SEARCHES: dict[str, list[dict[str, Any]]] = {}


def cached_search(search: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`random_search` of a ``cell_search`` config with a ``dataset`` (the random candidates plus NASNet-A
    as ``"nasnet_a"``), computed once per process and config (it is deterministic: fixed seeds, CPU)."""
    cfg = CellSearchConfig.model_validate(dict(search))
    if cfg.dataset is None:
        raise ValueError("the reproduction's search needs a dataset")
    key = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
    if key not in _SEARCHES:
        proxy = dataset_proxy(cfg.dataset, cfg.dataset_config)
        candidates = random_candidates(cfg.budget_candidates, seed=cfg.seed, ops=cfg.ops, combines=cfg.combines)
        candidates.append(Candidate("nasnet_a", None, *GENOTYPES["nasnet_a"]))
        _SEARCHES[key] = random_search(candidates, proxy, filters=cfg.filters, num_cells=cfg.num_cells,
                                       stem_multiplier=cfg.stem_multiplier, epochs=cfg.proxy_epochs,
                                       batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                       seed=cfg.seed)
    return copy.deepcopy(_SEARCHES[key])


def pick(rows: Sequence[Mapping[str, Any]], which: str) -> Mapping[str, Any]:
    """``nasnet_a``, or the ``best`` / ``median`` random candidate of the ranked rows."""
    if which == "nasnet_a":
        return next(r for r in rows if r["name"] == "nasnet_a")
    randoms = [r for r in rows if r["name"] != "nasnet_a"]
    if which == "best":
        return randoms[0]
    if which == "median":
        return median_row(randoms)
    raise ValueError(f"cells must be nasnet_a, best or median, got {which!r}")


def evaluate_cells(config: Mapping[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """Program arm: run the proxy search of ``config["search"]`` (once per process), take the cell pair
    ``config["cells"]`` (``nasnet_a``, ``best`` or ``median``), train it in ``config["experiment"]`` (its model a
    ``nasnet_network`` whose cells are replaced) under ``seed`` with ``forwardkit.run``, and return the final
    metrics with ``params``, ``macs`` (per image, eval forward), ``train_seconds``, ``proxy/accuracy``,
    ``proxy/rank`` (among the random candidates and NASNet-A), ``proxy/candidates`` and ``proxy/candidate_seed``
    (-1 for NASNet-A)."""
    rows = cached_search(config["search"])
    row = pick(rows, str(config["cells"]))
    exp = deep_merge(config["experiment"], {"model": {"normal_cell": row["normal_cell"],
                                                       "reduction_cell": row["reduction_cell"]},
                                             "trainer": {"progress": "none", "plots": False}})
    exp["seed"] = seed
    exp["name"] = f"reproduce-{config['cells']}-s{seed}"
    result = forwardkit.run(exp, write=False, verbose=False)
    model = getattr(result, "model", None)
    if not isinstance(model, NasNetNetwork):
        raise TypeError(f"the arm's experiment must train a nasnet_network, got {type(model).__name__}")
    h, w = model.config.image_size
    x = torch.zeros(1, h, w, model.config.in_channels)
    final = {k: float(v) for k, v in getattr(result, "final", {}).items()}
    return {**final, "params": float(count_parameters(model)), "macs": float(macs_per_image(model, x)),
            "train_seconds": float(getattr(result, "seconds", 0.0)),
            "proxy/accuracy": float(row["proxy_accuracy"]), "proxy/rank": float(row["rank"]),
            "proxy/candidates": float(len(rows)), "proxy/candidate_seed": float(row["seed"])}

