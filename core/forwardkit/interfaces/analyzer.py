"""Analyzer: reads a model (and data) and produces numbers, tables and pictures.

Contract: ``analyze(model, data=None) -> Analysis``. An analysis can be saved to a folder
(``numbers.json``, one CSV per table, one PNG per figure).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from forwardkit.interfaces.base import Component


@dataclass
class Analysis:
    """The result of an analyzer: scalar numbers, tables (lists of row dicts) and matplotlib figures."""

    numbers: dict[str, float] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def save(self, folder: str | Path) -> list[Path]:
        """Write numbers.json, <table>.csv and <figure>.png into ``folder``; returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / "numbers.json"]
        written[0].write_text(json.dumps(self.numbers, indent=2, sort_keys=True))
        for name, rows in self.tables.items():
            path = folder / f"{name}.csv"
            columns = list(dict.fromkeys(k for row in rows for k in row))
            with path.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
            written.append(path)
        for name, fig in self.figures.items():
            path = folder / f"{name}.png"
            fig.savefig(path, dpi=120, bbox_inches="tight")
            written.append(path)
        return written


    def close(self) -> None:
        """Release the figures' memory (matplotlib keeps open figures alive)."""
        if self.figures:
            import matplotlib.pyplot as plt

            for fig in self.figures.values():
                plt.close(fig)


class Analyzer(Component):
    """Base class of analyzers."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        self._init_config(config, overrides)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        raise NotImplementedError  # pragma: no cover - interface
