"""Checks of analyzers: ``analyze(model, data)`` on small models returns a finite, non-empty ``Analysis``."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from forwardkit.testing import toys
from forwardkit.testing.checks.common import Subject, conformance_check, fail
from forwardkit.testing.checks.helpers import describe_config, example_batch, finite_number, fresh_model, seeded

__all__ = ["check_analyzer_output"]


def _check_analysis(result: Any, where: str) -> None:
    from forwardkit.interfaces.analyzer import Analysis

    if not isinstance(result, Analysis):
        fail(f"analyze() must return an Analysis, got {type(result).__name__} ({where})")
    if not (result.numbers or result.tables or result.figures):
        fail(f"analyze() returned an empty Analysis ({where})")
    bad = {k: v for k, v in result.numbers.items() if not isinstance(k, str) or not finite_number(v)}
    if bad:
        fail(f"Analysis.numbers must map names to finite numbers; bad entries {bad} ({where})")
    for name, rows in result.tables.items():
        if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
            fail(f"Analysis.tables[{name!r}] must be a list of row dicts ({where})")
        for r in rows:
            for key, value in r.items():
                if isinstance(value, float) and not math.isfinite(value):
                    fail(f"Analysis.tables[{name!r}] has a non-finite value in column {key!r} ({where})")


def _analyze_case(subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module]) -> None:
    model = fresh_model(label, factory)
    model.eval()
    data = [example_batch(model, 4, s) for s in (0, 1)]
    analyzer = seeded(0, functools.partial(subject.build, config))
    where = f"on model {label}, {describe_config(config)}"
    try:
        result = analyzer.analyze(model, data)
    except Exception as exc:
        fail(f"analyze() raised {type(exc).__name__}: {exc} ({where})")
    try:
        _check_analysis(result, where)
    finally:
        _close_figures(getattr(result, "figures", {}) or {})


@conformance_check("analyzer")
def check_analyzer_output(subject: Subject, *, configs: Any = None, models: Any = None) -> int:
    """``analyze(model, data)`` on a small model (data: two example batches) returns a non-empty
    ``Analysis`` whose numbers (and numeric table cells) are finite."""
    checked = 0
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            _analyze_case(subject, config, label, factory)
            checked += 1
    return checked


def _close_figures(figures: Mapping[str, Any]) -> None:
    if not figures:
        return
    try:
        import matplotlib.pyplot as plt
    except Exception:
        return
    for fig in figures.values():
        with contextlib.suppress(Exception):
            plt.close(fig)
