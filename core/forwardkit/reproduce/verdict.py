"""The verdict of a reproduction, computed from the measured numbers only (pure functions, no torch).

With ``sign`` = +1 when higher is better and -1 when lower is better:

- ``effect = sign * (mean(method) - mean(baseline))``
- ``spread = sqrt(std(method)^2 + std(baseline)^2)`` (sample std, ddof=1; 0 with a single seed); with
  ``paired`` (the arms share each seed's data and initialisation) the std of the per-seed differences
  ``method_i - baseline_i`` instead, so a difference that is consistent seed by seed is not hidden by
  how much the seeds differ from each other
- **reproduces** when ``effect >= min_effect`` and ``effect > spread``;
- **does not reproduce at this scale** when ``effect + spread < min_effect`` (the shortfall is larger
  than the spread; this includes an effect clearly in the wrong direction);
- **inconclusive** otherwise: the spreads overlap, the data cannot tell.

A claim of *non-inferiority* ("on par with the baseline", "at most ``margin`` worse, at a lower cost") is
decided against ``-margin`` instead:

- **reproduces** when ``effect - spread >= -margin`` (even one spread below the measured effect, the
  method is no more than ``margin`` worse);
- **does not reproduce at this scale** when ``effect + spread < -margin`` (clearly more than ``margin`` worse);
- **inconclusive** otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

REPRODUCES = "reproduces"
DOES_NOT_REPRODUCE = "does not reproduce at this scale"
INCONCLUSIVE = "inconclusive"


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample std (ddof=1; 0.0 with one value), count and the values themselves."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no values to summarize")
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return {"mean": mean, "std": std, "n": len(vals), "values": vals}


@dataclass(frozen=True)
class Verdict:
    outcome: str
    effect: float
    spread: float
    min_effect: float
    reason: str
    claim: str = "superiority"
    margin: float = 0.0
    paired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    baseline: Sequence[float],
    method: Sequence[float],
    *,
    direction: str = "higher",
    min_effect: float = 0.0,
    metric: str = "metric",
    names: tuple[str, str] = ("baseline", "method"),
    claim: str = "superiority",
    margin: float = 0.0,
    paired: bool = False,
) -> Verdict:
    """The verdict for the per-seed ``baseline`` and ``method`` values (see the module docstring)."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")
    if claim not in ("superiority", "non_inferiority"):
        raise ValueError(f"claim must be 'superiority' or 'non_inferiority', got {claim!r}")
    b, m = summarize(baseline), summarize(method)
    sign = 1.0 if direction == "higher" else -1.0
    effect = sign * (m["mean"] - b["mean"])
    if paired:
        if b["n"] != m["n"]:
            raise ValueError(f"a paired comparison needs one value per seed in both arms, got {b['n']} and {m['n']}")
        spread = summarize([x - y for x, y in zip(m["values"], b["values"], strict=True)])["std"]
    else:
        spread = math.hypot(m["std"], b["std"])
    single = min(b["n"], m["n"]) < 2
    if claim == "non_inferiority":
        outcome, why = _non_inferiority(effect, spread, margin)
    elif effect >= min_effect and effect > spread:
        outcome, why = REPRODUCES, f"effect {effect:+.4g} >= bar {min_effect:.4g} and > spread {spread:.4g}"
    elif effect + spread < min_effect:
        outcome = DOES_NOT_REPRODUCE
        why = f"effect {effect:+.4g} + spread {spread:.4g} < bar {min_effect:.4g}"
    else:
        outcome = INCONCLUSIVE
        if effect >= min_effect:
            why = f"effect {effect:+.4g} >= bar {min_effect:.4g} but not > spread {spread:.4g}"
        else:
            why = f"effect {effect:+.4g} < bar {min_effect:.4g} but within spread {spread:.4g} of it"
    seeds = "single seed, no spread estimate" if single else f"{min(b['n'], m['n'])} seeds"
    if paired and not single:
        seeds += ", paired by seed"
    reason = (
        f"{names[1]} {m['mean']:.4g} ± {m['std']:.2g} vs {names[0]} {b['mean']:.4g} ± {b['std']:.2g} "
        f"({metric}, {direction} is better, {seeds}): {why}"
    )
    return Verdict(outcome, effect, spread, float(min_effect), reason, claim, float(margin), paired)


def _non_inferiority(effect: float, spread: float, margin: float) -> tuple[str, str]:
    """Outcome and reason of a non-inferiority claim: is the method at most ``margin`` worse?"""
    if effect - spread >= -margin:
        return REPRODUCES, (f"non-inferior: effect {effect:+.4g} - spread {spread:.4g} >= "
                            f"-margin {-margin:.4g}")
    if effect + spread < -margin:
        return DOES_NOT_REPRODUCE, (f"worse than the margin: effect {effect:+.4g} + spread {spread:.4g} "
                                    f"< -margin {-margin:.4g}")
    return INCONCLUSIVE, f"effect {effect:+.4g} is within spread {spread:.4g} of -margin {-margin:.4g}"
