"""Dataset: a provider of splits with metadata.

Contract (docs/concepts.md): created from its Config, ``split(name)`` returns a ``torch.utils.data.Dataset``
whose items are dicts of tensors (``{"x": ..., "y": ...}``) for ``"train"``, ``"val"`` and ``"test"``;
``metadata`` describes task, shapes and classes, which pick the default loss and metrics. Splits are
deterministic under the config's seed. Offline: data is generated or ships with an installed
package; anything that would download raises :class:`forwardkit.errors.ForwardkitError`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field
from torch.utils.data import Dataset as TorchDataset

from forwardkit.interfaces.base import Component

Split = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = ("train", "val", "test")


class DatasetMetadata(BaseModel):
    """What a dataset yields: the task, per-sample shapes and, for classification, the classes."""

    task: str = Field(description="'classification', 'regression', 'forecasting', or a plugin's task")
    input_shape: tuple[int, ...] = Field(description="shape of one sample's 'x' (channels last)")
    target_shape: tuple[int, ...] = Field(default=(), description="shape of one sample's 'y'")
    num_classes: int | None = None
    class_names: list[str] | None = None
    sizes: dict[str, int] = Field(default_factory=dict, description="number of samples per split")
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return self.input_shape[-1] if self.input_shape else 1

    @property
    def spatial_rank(self) -> int:
        return max(len(self.input_shape) - 1, 0)


class Dataset(Component):
    """Base class of dataset providers."""

    splits: ClassVar[tuple[str, ...]] = SPLITS
    #: splits whose items carry no label: ``y`` holds -1 in every row (an unlabelled target domain drawn with
    #: ``trainer.paired``); the conformance kit accepts -1 there instead of a class index
    unlabelled_splits: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        self._init_config(config, overrides)

    @property
    def metadata(self) -> DatasetMetadata:  # pragma: no cover - interface
        raise NotImplementedError

    def split(self, name: str) -> TorchDataset:  # pragma: no cover - interface
        raise NotImplementedError
