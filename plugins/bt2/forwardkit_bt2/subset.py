"""``class_subset``: another dataset with some of its splits restricted to some classes (the old model of the
miniature sees digits 0-4 only). The metadata keeps the source's classes, so models keep their class count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

import forwardkit
from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit_bt2.config import ClassSubsetConfig


class ClassSubset(InMemoryDataset):
    """The source's splits, those in ``splits`` keeping only the rows whose label is in ``classes``."""

    Config = ClassSubsetConfig
    config: ClassSubsetConfig

    def build(self) -> tuple[Mapping[str, TensorSplit], dict[str, Any]]:
        cfg = self.config
        spec = dict(cfg.source)
        source = forwardkit.create("dataset", spec.pop("name"), spec)
        meta = source.metadata
        if meta.task != "classification":
            raise forwardkit.ConfigError([forwardkit.errors.ConfigIssue("source", f"class_subset needs a "
                                          f"classification dataset, got task {meta.task!r}")])
        splits: dict[str, TensorSplit] = {}
        for name in self.splits:
            data = source.split(name)
            x = torch.stack([data[i]["x"] for i in range(len(data))]) if len(data) else torch.zeros(0)
            y = torch.stack([data[i]["y"] for i in range(len(data))]) if len(data) else torch.zeros(0,
                                                                                                 dtype=torch.long)
            if name in cfg.splits and len(data):
                keep = torch.isin(y, torch.tensor(cfg.classes))
                x, y = x[keep], y[keep]
            if len(x) == 0:
                x = torch.zeros(0, *meta.input_shape)
            splits[name] = TensorSplit(x.contiguous(), y.contiguous())
        return splits, {"task": meta.task, "num_classes": meta.num_classes, "class_names": meta.class_names,
                        "extra": {**meta.extra, "classes": list(cfg.classes), "restricted_splits": list(cfg.splits)}}
