"""What BT^2 and BCT read from the frozen models: embedding caches and the pseudo-classifier (BCT's influence
loss). Both are plain tensors in the rules' ``state_dict``, so a resumed run continues exactly."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit_bt2.embeddings import embed_frozen


def sample_keys(x: Tensor) -> list[bytes]:
    """A 16-byte digest of every sample of ``x`` ``(B, ...)`` (the cache key: the official code keys by path)."""
    rows = x.detach().to("cpu", torch.float32).contiguous().reshape(x.shape[0], -1).numpy()
    return [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in rows]


class EmbeddingCache:
    """The frozen ``model``'s L2-normalised embeddings of the samples seen, computed once per sample.

    ``get(x)`` ``(B, ...)`` -> ``(B, D)``; misses are embedded in one batched eval-mode forward. With ``enabled``
    False every call embeds the batch (no memory).
    """

    def __init__(self, model: nn.Module, *, enabled: bool = True) -> None:
        self.model, self.enabled = model, enabled
        self.index: dict[bytes, int] = {}
        self.rows: list[Tensor] = []
        self._values: Tensor | None = None

    def __len__(self) -> int:
        return len(self.index)

    def _embed(self, x: Tensor) -> Tensor:
        return F.normalize(embed_frozen(self.model, x), dim=1)

    def get(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return self._embed(x)
        keys = sample_keys(x)
        missing = [i for i, k in enumerate(keys) if k not in self.index]
        if missing:
            fresh = self._embed(x[missing]).detach().cpu()
            for j, i in enumerate(missing):
                if keys[i] not in self.index:  # a sample repeated inside the batch
                    self.index[keys[i]] = len(self.rows)
                    self.rows.append(fresh[j])
            self._values = None
        if self._values is None:
            self._values = torch.stack(self.rows)
        rows = torch.tensor([self.index[k] for k in keys], dtype=torch.long)
        return self._values[rows].to(x.device)

    def state_dict(self) -> dict[str, Any]:
        if not self.rows:
            return {"size": 0}
        keys = sorted(self.index, key=self.index.__getitem__)
        return {"size": len(keys), "keys": torch.tensor([list(k) for k in keys], dtype=torch.uint8),
                "values": torch.stack(self.rows).clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.index, self.rows, self._values = {}, [], None
        if int(state.get("size", 0)) == 0:
            return
        for i, (key, row) in enumerate(zip(state["keys"], state["values"], strict=True)):
            self.index[bytes(key.tolist())] = i
            self.rows.append(row.clone())


def pseudo_classifier(embeddings: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """BCT's pseudo-classifier (official ``train_feature_transfer.py``): row ``c`` is the mean of the old model's
    embeddings ``(N, D)`` of the samples labelled ``c``; ``(num_classes, D)``. A class with no sample gets a zero
    row (the official code divides by a zero count there)."""
    sums = torch.zeros(num_classes, embeddings.shape[1], dtype=embeddings.dtype)
    sums.index_add_(0, labels.long().cpu(), embeddings.detach().cpu())
    counts = torch.bincount(labels.long().cpu(), minlength=num_classes).to(embeddings.dtype)
    return sums / counts.clamp(min=1)[:, None]


class PseudoClassifier:
    """P, from a whole training set before training (``fit_dataset``) or, without one, as running class means of
    the batches of the first epoch (``update``)."""

    def __init__(self, num_classes: int, dim: int) -> None:
        self.sums = torch.zeros(num_classes, dim)
        self.counts = torch.zeros(num_classes)
        self.fixed = False

    def fit(self, embeddings: Tensor, labels: Tensor) -> None:
        """Fix P to the class means of ``embeddings`` ``(N, D)`` (no further updates)."""
        self.sums.zero_()
        self.counts.zero_()
        self.update(embeddings, labels)
        self.fixed = True

    def update(self, embeddings: Tensor, labels: Tensor) -> None:
        self.sums.index_add_(0, labels.long().cpu(), embeddings.detach().cpu().to(self.sums.dtype))
        self.counts += torch.bincount(labels.long().cpu(), minlength=self.counts.shape[0]).to(self.counts.dtype)

    @property
    def weight(self) -> Tensor:
        """``(num_classes, D)``: the class means so far (zero rows for classes not seen)."""
        return self.sums / self.counts.clamp(min=1)[:, None]

    def state_dict(self) -> dict[str, Any]:
        return {"sums": self.sums.clone(), "counts": self.counts.clone(), "fixed": self.fixed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sums = state["sums"].clone().to(torch.float32)
        self.counts = state["counts"].clone().to(torch.float32)
        self.fixed = bool(state["fixed"])
