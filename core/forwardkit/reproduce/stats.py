"""Confidence intervals for reproduction verdicts (pure functions; numpy and scipy, no torch).

Every interval is two-sided at ``level`` (default 0.90, so that a directional claim is a one-sided test
at 95%) and uses Student's t distribution:

- :func:`mean_interval`: the mean of one arm's per-seed values, ``mean ± t(n-1) * sd / sqrt(n)``;
- :func:`paired_interval`: the mean of the per-seed differences ``a_i - b_i`` (the arms of one seed
  share its data and initialisation), the paired t interval;
- :func:`welch_interval`: the difference of two independent means, with the Welch-Satterthwaite degrees
  of freedom.

With a single value there is no spread estimate: the interval is unbounded (``-inf, inf``), so nothing
is ever decided on one seed. With zero spread (every value equal) the interval is the point itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_LEVEL = 0.90


def sample_sd(values: Sequence[float]) -> float:
    """The sample standard deviation (ddof=1); 0.0 for fewer than two values."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(p, df))


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided confidence interval.

    ``estimate`` is the mean (or the mean difference); ``low``/``high`` its interval at ``level``
    (infinite when undefined, i.e. with one value); ``se`` the standard error and ``df`` the degrees of
    freedom of the t quantile used; ``method`` says which interval it is.
    """

    estimate: float
    low: float
    high: float
    level: float
    n: int
    se: float
    df: float
    method: str

    @property
    def defined(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def scaled(self, factor: float) -> Interval:
        """The interval of ``factor * estimate`` (a negative factor swaps the bounds)."""
        lo, hi = sorted((self.low * factor, self.high * factor))
        return Interval(self.estimate * factor, lo, hi, self.level, self.n, self.se * abs(factor), self.df,
                        self.method)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: infinite bounds become ``None``."""
        d = asdict(self)
        for key in ("low", "high", "df"):
            if not math.isfinite(d[key]):
                d[key] = None
        return d

    def text(self, fmt: str = ".4g") -> str:
        """``0.1234 [0.1000, 0.1468]`` (or ``0.1234 [undefined: 1 value]``)."""
        if not self.defined:
            return f"{self.estimate:{fmt}} [no interval: n={self.n}]"
        return f"{self.estimate:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


def _t_interval(estimate: float, se: float, df: float, level: float, n: int, method: str) -> Interval:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not math.isfinite(df) or df <= 0:
        return Interval(estimate, -math.inf, math.inf, level, n, se, df, method)
    if se == 0.0:
        return Interval(estimate, estimate, estimate, level, n, se, df, method)
    half = t_quantile(0.5 + level / 2.0, df) * se
    return Interval(estimate, estimate - half, estimate + half, level, n, se, df, method)


def mean_interval(values: Sequence[float], level: float = DEFAULT_LEVEL) -> Interval:
    """The t interval of the mean of ``values``."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no values")
    n = len(vals)
    se = sample_sd(vals) / math.sqrt(n) if n > 1 else math.inf
    return _t_interval(sum(vals) / n, se, n - 1.0 if n > 1 else math.nan, level, n, "t")


def paired_interval(a: Sequence[float], b: Sequence[float], level: float = DEFAULT_LEVEL) -> Interval:
    """The paired t interval of ``mean(a_i - b_i)`` (one value per seed in each)."""
    if len(a) != len(b):
        raise ValueError(f"a paired comparison needs one value per seed in both arms, got {len(a)} and {len(b)}")
    d = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    iv = mean_interval(d, level)
    return Interval(iv.estimate, iv.low, iv.high, level, iv.n, iv.se, iv.df, "paired t")


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = DEFAULT_LEVEL) -> Interval:
    """The Welch t interval of ``mean(a) - mean(b)`` (independent samples, unequal variances)."""
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:
        raise ValueError("no values")
    estimate = sum(a) / na - sum(b) / nb
    if na < 2 or nb < 2:
        return Interval(estimate, -math.inf, math.inf, level, min(na, nb), math.inf, math.nan, "Welch t")
    va, vb = sample_sd(a) ** 2 / na, sample_sd(b) ** 2 / nb
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1)) if se > 0 else float(na + nb - 2)
    return _t_interval(estimate, se, df, level, min(na, nb), "Welch t")


def pooled_sd(a: Sequence[float], b: Sequence[float]) -> float:
    """The pooled standard deviation ``sqrt(((na-1) sa² + (nb-1) sb²) / (na + nb - 2))``."""
    na, nb = len(a), len(b)
    if na + nb <= 2:
        return math.nan
    return math.sqrt(((na - 1) * sample_sd(a) ** 2 + (nb - 1) * sample_sd(b) ** 2) / (na + nb - 2))
