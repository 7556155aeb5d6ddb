"""In-memory datasets: splits held as stacked tensors, with metadata read from the tensors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset as TorchDataset

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.dataset import Dataset, DatasetMetadata

__all__ = ["InMemoryDataset", "TensorSplit", "UnknownSplitError", "take_splits"]


class UnknownSplitError(ForwardkitError, KeyError):
    """A split name the dataset does not have."""

    def __init__(self, name: str, dataset: str, allowed: Sequence[str]) -> None:
        self.name = name
        self.allowed = list(allowed)
        super().__init__(f"{dataset} has no split {name!r}; its splits are: {', '.join(self.allowed)}")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class TensorSplit(TorchDataset):
    """Items ``{"x": x[i], "y": y[i], **{k: v[i]}}`` from tensors that share their first dimension.

    ``.x``, ``.y`` and ``.tensors`` are public, so a trainer may batch by slicing instead of collating items.
    """

    def __init__(self, x: Tensor, y: Tensor, **extra: Tensor) -> None:
        tensors = {"x": x, "y": y, **extra}
        lengths = {k: int(v.shape[0]) for k, v in tensors.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"tensors of one split must have the same length, got {lengths}")
        self.x = x
        self.y = y
        self.tensors: dict[str, Tensor] = tensors

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {k: v[index] for k, v in self.tensors.items()}

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{k}={tuple(v.shape[1:])}:{str(v.dtype).removeprefix('torch.')}" for k, v in self.tensors.items()
        )
        return f"TensorSplit(n={len(self)}, {shapes})"


def take_splits(x: Tensor, y: Tensor, index: Mapping[str, np.ndarray | Sequence[int] | Tensor],
                **extra: Tensor) -> dict[str, TensorSplit]:
    """One contiguous :class:`TensorSplit` per entry of ``index`` (e.g. the output of
    :func:`~forwardkit.data.stratified_split`), holding the rows ``x[idx]``, ``y[idx]`` (and of ``extra``)."""
    out = {}
    for name, idx in index.items():
        i = torch.as_tensor(idx, dtype=torch.long)
        rows = {k: v[i].contiguous() for k, v in extra.items()}
        out[name] = TensorSplit(x[i].contiguous(), y[i].contiguous(), **rows)
    return out


class InMemoryDataset(Dataset):
    """A dataset whose splits are tensors built once, on first use of ``metadata`` or ``split``.

    Subclasses implement :meth:`build`, returning the splits and the metadata fields that the tensors
    do not determine (``task``, ``num_classes``, ``class_names``, ``extra``). ``input_shape``,
    ``target_shape`` and ``sizes`` are read from the tensors, so the metadata cannot disagree with the items.
    """

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._splits: dict[str, TensorSplit] | None = None
        self._metadata: DatasetMetadata | None = None

    def build(self) -> tuple[Mapping[str, TensorSplit], dict[str, Any]]:  # pragma: no cover - interface
        """The splits by name and the metadata fields the tensors do not determine."""
        raise NotImplementedError

    def _ensure_built(self) -> dict[str, TensorSplit]:
        if self._splits is None:
            splits, fields = self.build()
            missing = [s for s in self.splits if s not in splits]
            if missing:
                raise ForwardkitError(f"{type(self).__name__}.build() returned no split {missing}")
            first = splits[self.splits[0]]
            self._metadata = DatasetMetadata(
                input_shape=tuple(first.x.shape[1:]),
                target_shape=tuple(first.y.shape[1:]),
                sizes={name: len(splits[name]) for name in self.splits},
                **fields,
            )
            self._splits = {name: splits[name] for name in self.splits}
        return self._splits

    @property
    def metadata(self) -> DatasetMetadata:
        self._ensure_built()
        assert self._metadata is not None
        return self._metadata

    def split(self, name: str) -> TensorSplit:
        if name not in self.splits:
            raise UnknownSplitError(name, type(self).__name__, self.splits)
        return self._ensure_built()[name]
