"""Compressor: makes a model smaller or faster, before or after training.

Contract (docs/concepts.md): ``compress(model, data=None) -> (model, report)``; the report holds *measured*
figures (parameters, bytes on disk, MACs, latency, accuracy before and after), which the conformance
kit measures again and compares.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from torch import nn

from forwardkit.interfaces.base import Component


@dataclass
class ModelFigures:
    """Measured figures of one model."""

    parameters: int
    bytes: int
    macs: int | None = None
    latency_ms: float | None = None
    accuracy: float | None = None


@dataclass
class CompressionReport:
    """Before/after figures of a compression, plus free-form details."""

    before: ModelFigures
    after: ModelFigures
    details: dict[str, Any] = field(default_factory=dict)

    def ratios(self) -> dict[str, float]:
        out = {"parameters": self.after.parameters / max(self.before.parameters, 1)}
        out["bytes"] = self.after.bytes / max(self.before.bytes, 1)
        if self.before.macs and self.after.macs is not None:
            out["macs"] = self.after.macs / self.before.macs
        if self.before.latency_ms and self.after.latency_ms is not None:
            out["latency"] = self.after.latency_ms / self.before.latency_ms
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"before": asdict(self.before), "after": asdict(self.after), "details": self.details}


class Compressor(Component):
    """Base class of compressors."""

    #: when the compressor is meant to run in an experiment
    when: ClassVar[Literal["before_training", "after_training"]] = "after_training"

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        self._init_config(config, overrides)

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        raise NotImplementedError  # pragma: no cover - interface
