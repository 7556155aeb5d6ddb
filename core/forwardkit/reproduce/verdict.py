"""The verdict of a reproduction, computed from the measured numbers only (pure functions, no torch).

A spec's verdict combines its conditions (:mod:`forwardkit.reproduce.conditions`):

- **reproduces** when every condition reproduces;
- **does not reproduce at this scale** when any condition clearly fails (its interval lies on the wrong
  side of the bar, a literal std rule or a seed count fails, an equality is broken);
- **inconclusive** otherwise; with fewer than :data:`MIN_SEEDS` seeds no condition reproduces, and the
  verdict reads "inconclusive (too few seeds)" (``qualifier``).

Comparisons are judged on confidence intervals of the effect (paired t when the arms share each seed's
data and initialisation, Welch's t otherwise) at the spec's ``level`` (default 90% two-sided, i.e. a
one-sided 95% test of a directional claim). See docs/measuring.md for a worked example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from forwardkit.reproduce.conditions import (
    DOES_NOT_REPRODUCE,
    INCONCLUSIVE,
    MIN_SEEDS,
    REPRODUCES,
    ConditionResult,
    Context,
    combine,
    evaluate,
)
from forwardkit.reproduce.stats import DEFAULT_LEVEL, mean_interval, sample_sd

__all__ = ["DOES_NOT_REPRODUCE", "INCONCLUSIVE", "MIN_SEEDS", "REPRODUCES", "Verdict", "judge", "summarize"]


def summarize(values: Sequence[float], level: float = DEFAULT_LEVEL) -> dict[str, Any]:
    """Mean, its t interval at ``level`` (``low``/``high``, None with one value), sample std, n, the values."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no values to summarize")
    iv = mean_interval(vals, level).to_dict()
    return {"mean": iv["estimate"], "low": iv["low"], "high": iv["high"], "level": level, "std": sample_sd(vals),
            "n": len(vals), "values": vals}


@dataclass(frozen=True)
class Verdict:
    """The spec's outcome, a one-line reason, and every condition's own result."""

    outcome: str
    reason: str
    level: float
    seeds: int
    conditions: list[dict[str, Any]] = field(default_factory=list)
    qualifier: str | None = None

    @property
    def label(self) -> str:
        """The outcome as shown to readers, e.g. ``inconclusive (too few seeds)``."""
        return f"{self.outcome} ({self.qualifier})" if self.qualifier else self.outcome

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "label": self.label, "qualifier": self.qualifier, "reason": self.reason,
                "level": self.level, "seeds": self.seeds, "conditions": self.conditions}


def _reason(results: Sequence[ConditionResult], outcome: str, seeds: int) -> str:
    held = sum(r.outcome == REPRODUCES for r in results)
    head = f"{held} of {len(results)} conditions hold"
    if outcome == REPRODUCES:
        return head
    failing = [r for r in results if r.outcome == DOES_NOT_REPRODUCE]
    shown = failing or [r for r in results if r.outcome == INCONCLUSIVE]
    word = "fails" if failing else "is inconclusive"
    detail = "; ".join(f"condition {r.index + 1} ({r.text}) {word}: {r.reason}" for r in shown[:2])
    more = f" (and {len(shown) - 2} more)" if len(shown) > 2 else ""
    if seeds < MIN_SEEDS and not failing:
        would = sum(bool(r.details.get("too_few_seeds")) for r in results)
        return (f"too few seeds ({seeds} < {MIN_SEEDS}): no condition can reproduce; on these seeds {would} of "
                f"{len(results)} conditions would hold")
    return f"{head}; {detail}{more}"


def judge(conditions: Sequence[Any], finals: Mapping[str, Sequence[Mapping[str, float]]], *, metric: str,
          direction: str, level: float = DEFAULT_LEVEL, paired: bool = True) -> Verdict:
    """Evaluate every condition on the per-seed final metrics of each arm and combine them."""
    ctx = Context(finals=finals, metric=metric, direction=direction, level=level, paired=paired)
    results = [evaluate(c, ctx, i) for i, c in enumerate(conditions)]
    outcome = combine([r.outcome for r in results])
    seeds = min(len(v) for v in finals.values()) if finals else 0
    qualifier = "too few seeds" if outcome == INCONCLUSIVE and seeds < MIN_SEEDS else None
    return Verdict(outcome, _reason(results, outcome, seeds), level, seeds, [r.to_dict() for r in results],
                   qualifier)
