"""``MiniFilterZoo``: a miniature CNN Filter DB (card, "Setup") and the functions that build it.

For every (source, width, seed) a :class:`~forwardkit_cnn_filter_db.model.FilterCNN` is trained with
Adam on at most ``train_size`` grey images of an offline dataset (``digits`` 8x8, ``mnist5k`` 28x28,
``textures``: 4-class crops of scikit-image's brick / grass / gravel / camera pictures, and
``random_labels``: mnist5k with permuted labels, a control that learns nothing transferable). With
``include_untrained`` the model's initialisation joins the zoo as well. The dataset's items are the 3x3
filters of the zoo ``(3, 3, 1)`` with the label ``label_by`` asks for, so "which layer / dataset does a
filter come from" is itself a small classification task.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.data import InMemoryDataset, TensorSplit, random_split
from forwardkit_cnn_filter_db.config import MiniFilterZooConfig
from forwardkit_cnn_filter_db.extract import FilterTable, extract_table
from forwardkit_cnn_filter_db.model import FilterCNN
from forwardkit_cnn_filter_db.shift import peak_scale

__all__ = ["MiniFilterZoo", "ZooMember", "source_images", "train_zoo", "train_zoo_model"]

TEXTURE_CLASSES = ("brick", "grass", "gravel", "camera")


@lru_cache(maxsize=16)
def _source(source: str, train_size: int, image_size: int) -> tuple[Tensor, Tensor, int]:
    import forwardkit

    if source == "textures":
        per_class = math.ceil(train_size / len(TEXTURE_CLASSES))
        ds = forwardkit.create("dataset", "textures", images=list(TEXTURE_CLASSES), crop=image_size,
                               train_per_class=per_class, val_per_class=0, test_per_class=0, seed=0)
    else:
        ds = forwardkit.create("dataset", "digits" if source == "digits" else "mnist5k", seed=0)
    split = ds.split("train")
    x, y = split.x[:train_size].float(), split.y[:train_size].long()
    if source == "random_labels":
        y = y[torch.from_numpy(np.random.default_rng(12345).permutation(len(y)))]
    return x, y, int(ds.metadata.num_classes or int(y.max()) + 1)


def source_images(source: str, train_size: int = 4000, image_size: int = 28) -> tuple[Tensor, Tensor, int]:
    """Training images ``(n, H, W, 1)`` float32, labels ``(n,)`` int64 and the number of classes of a zoo
    source (at most ``train_size`` images; ``random_labels`` permutes mnist5k's labels with a fixed seed)."""
    return _source(source, train_size, image_size)


def train_zoo_model(source: str, width: int, seed: int, config: MiniFilterZooConfig | None = None,
                    **overrides: Any) -> tuple[FilterCNN, FilterCNN, dict[str, float]]:
    """``(trained, initial, stats)``: a ``filter_cnn`` of ``width`` trained on ``source`` from ``seed``.

    Mini-batch Adam with cross-entropy, ``epochs`` passes in a seeded order; ``stats`` has the final
    epoch's mean training loss and accuracy. The global RNG state is left untouched.
    """
    cfg = config or MiniFilterZooConfig(**overrides)
    x, y, num_classes = source_images(source, cfg.train_size, cfg.image_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FilterCNN(in_channels=x.shape[-1], num_classes=num_classes, width=width, depth=cfg.depth)
    initial = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(1000 + seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(x), generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for start in range(0, len(x), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(-1) == y[idx]).sum())
            seen += len(idx)
    model.eval()
    stats = {"train_loss": loss_sum / seen if seen else float("nan"), "train_accuracy": correct / seen if seen else 0.0}
    return model, initial, stats


@dataclass
class ZooMember:
    """One model of the zoo and its filter table."""

    source: str
    width: int
    seed: int
    trained: bool
    table: FilterTable
    stats: dict[str, float]

    def meta(self) -> dict[str, Any]:
        return {"source": self.source, "width": self.width, "seed": self.seed, "trained": self.trained,
                "n_filters": len(self.table.filters), **self.stats}


def train_zoo(config: MiniFilterZooConfig | None = None, **overrides: Any) -> list[ZooMember]:
    """Train every (source, width, seed) of the config; returns trained (and untrained) members."""
    cfg = config or MiniFilterZooConfig(**overrides)
    members = []
    for source in cfg.datasets:
        for width in cfg.widths:
            for seed in cfg.seeds:
                trained, initial, stats = train_zoo_model(source, width, seed, cfg)
                if cfg.epochs > 0:
                    members.append(ZooMember(source, width, seed, True, extract_table(trained), stats))
                if cfg.include_untrained or cfg.epochs == 0:
                    members.append(ZooMember(source, width, seed, False, extract_table(initial), {}))
    return members


class MiniFilterZoo(InMemoryDataset):
    """Items ``x`` ``(3, 3, 1)`` (3x3 filters of the zoo, peak-scaled unless disabled) and ``y`` the
    ``label_by`` class: source dataset (trained models only), 3x3 layer index, or trained (1) vs
    untrained (0); filters are split at random into train / val / test by ``seed``."""

    Config = MiniFilterZooConfig
    config: MiniFilterZooConfig
    conformance_configs = (
        {"datasets": ["digits"], "widths": [2], "depth": 2, "epochs": 1, "train_size": 64, "label_by": "trained"},
    )

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        cfg = self.config
        members = train_zoo(cfg)
        xs, ys = [], []
        for m in members:
            if cfg.label_by == "dataset" and not m.trained:
                continue
            f = peak_scale(m.table.filters) if cfg.scale_by_peak else m.table.filters.astype(np.float64)
            if cfg.label_by == "dataset":
                labels = np.full(len(f), cfg.datasets.index(m.source))
            elif cfg.label_by == "depth":
                labels = m.table.layer_of_rows()
            else:
                labels = np.full(len(f), int(m.trained))
            xs.append(f.astype(np.float32).reshape(-1, 3, 3, 1))
            ys.append(labels.astype(np.int64))
        x = torch.from_numpy(np.concatenate(xs))
        y = torch.from_numpy(np.concatenate(ys))
        index = random_split(len(y), cfg.val_fraction, cfg.test_fraction, cfg.seed)
        splits = {s: TensorSplit(x[torch.from_numpy(i)].contiguous(), y[torch.from_numpy(i)].contiguous())
                  for s, i in index.items()}
        if cfg.label_by == "dataset":
            names = list(cfg.datasets)
        elif cfg.label_by == "depth":
            names = [f"layer{i}" for i in range(cfg.depth)]
        else:
            names = ["untrained", "trained"]
        return splits, {
            "task": "classification", "num_classes": len(names), "class_names": names,
            "extra": {"members": [m.meta() for m in members], "label_by": cfg.label_by},
        }
