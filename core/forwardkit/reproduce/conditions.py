"""A reproduction's pass bar as data: the conditions of a spec card, each judged on measured numbers.

Every condition reads *figures*: one value per seed of an arm's final metric (``test/accuracy``,
``analysis/<analyzer>/<key>``, a program arm's figure, ...), optionally divided seed by seed by another
figure (a speed-up is ``latency of dense / latency of method``). Each condition gives its own outcome:

========================  =================================================================================
kind                      what it states (see :func:`evaluate` for the rule)
========================  =================================================================================
``compare``               arm against arm on a confidence interval of the effect: ``superiority`` (better
                          by at least ``min_effect``), ``non_inferiority`` (at most ``margin`` worse) or
                          ``equivalence`` (within ``± margin``); absolute or ``relative`` to the baseline.
``std_rule``              the card's words in standard deviations, literally: "above by more than ``k``
                          pooled std" (``beats``) or "not below by more than ``k`` std" (``not_worse``).
``threshold``             a figure's mean against a number on its interval (accuracy >= 0.9, speed-up >= 2).
``seed_count``            a per-seed statement that holds in at least ``k`` seeds.
``equal``                 a figure equals a number or another figure in every seed (within ``tolerance``).
``monotone``              a figure improves (or does not get worse) along an ordered list of arms.
``any``                   at least one of several conditions holds ("neither variant beats ..." bars).
========================  =================================================================================

Pure functions of the numbers; no torch.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from forwardkit.errors import ForwardkitError
from forwardkit.reproduce.stats import Interval, mean_interval, paired_interval, pooled_sd, sample_sd, welch_interval

REPRODUCES = "reproduces"
DOES_NOT_REPRODUCE = "does not reproduce at this scale"
INCONCLUSIVE = "inconclusive"

#: no condition (hence no spec) reproduces on fewer seeds than this
MIN_SEEDS = 3

Direction = Literal["higher", "lower"]
Op = Literal[">=", ">", "<=", "<"]
OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt, "<=": operator.le,
                                                  "<": operator.lt}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Difference(_Strict):
    """A figure subtracted seed by seed: ``metric`` of ``arm`` (defaults: the arm and metric it is subtracted from)."""

    arm: str | None = None
    metric: str | None = None


class Ratio(_Strict):
    """The denominator of a ratio figure: ``metric`` of ``arm`` (defaults: the numerator's arm and metric),
    less ``minus`` seed by seed (a gap: ``target - baseline``)."""

    arm: str | None = None
    metric: str | None = None
    minus: Difference | None = Field(None, description="subtract this figure from the denominator, seed by seed")


class Figure(_Strict):
    """Per-seed values of ``metric`` in ``arm`` (``metric`` defaults to the spec's), less ``minus``, divided by
    ``over`` (less its own ``minus``): ``(method - base) / (target - base)`` is the fraction of a gap covered."""

    arm: str
    metric: str | None = None
    minus: Difference | None = Field(None, description="subtract this figure seed by seed (before dividing)")
    over: Ratio | None = Field(None, description="divide seed by seed by this figure (a ratio or speed-up)")

    def arms(self) -> set[str]:
        found = {self.arm}
        for part in (self.minus, self.over, self.over.minus if self.over is not None else None):
            if part is not None and part.arm:
                found.add(part.arm)
        return found

    def describe(self, default_metric: str) -> str:
        metric = self.metric or default_metric
        text = f"`{self.arm}` {metric}"
        if self.minus is not None:
            text = f"{text} - `{self.minus.arm or self.arm}` {self.minus.metric or metric}"
        if self.over is not None:
            over_arm, over_metric = self.over.arm or self.arm, self.over.metric or metric
            bottom = f"`{over_arm}` {over_metric}"
            if self.over.minus is not None:
                bottom += f" - `{self.over.minus.arm or over_arm}` {self.over.minus.metric or over_metric}"
            text = f"({text}) / ({bottom})"
        return text


class _Condition(_Strict):
    label: str | None = Field(None, description="the card's own words for this condition")

    def arms(self) -> set[str]:  # pragma: no cover - every kind overrides
        raise NotImplementedError


class _Pair(_Condition):
    method: str = Field(description="the arm the claim is about")
    baseline: str = Field(description="the arm it is compared with")
    metric: str | None = Field(None, description="default: the spec's metric")
    direction: Direction | None = Field(None, description="which way is better (default: the spec's)")

    def arms(self) -> set[str]:
        return {self.method, self.baseline}


class Compare(_Pair):
    """Arm against arm, judged on the confidence interval of ``effect = sign * (method - baseline)``.

    ``relative``: the effect as a fraction of the baseline (``(method - baseline) / |baseline|``, seed
    by seed when paired). ``paired`` defaults to the spec's (paired t); unpaired arms use Welch's t.
    """

    kind: Literal["compare"] = "compare"
    test: Literal["superiority", "non_inferiority", "equivalence"] = "superiority"
    min_effect: float = Field(0.0, ge=0.0, description="superiority: the least effect that counts")
    margin: float = Field(0.0, ge=0.0, description="non_inferiority / equivalence: the tolerated difference")
    fail_margin: float | None = Field(None, ge=0.0, description="non_inferiority: a card that passes within "
                                      "`margin` but fails only beyond a larger loss gives it here (default margin)")
    fail_below: float | None = Field(None, ge=0.0, description="superiority: a card that passes at `min_effect` "
                                     "but fails only when the method is not better by this much gives it here (0: "
                                     "'not better'); the gap between is inconclusive (default min_effect)")
    relative: bool = False
    paired: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> Compare:
        if self.fail_margin is not None and (self.test != "non_inferiority" or self.fail_margin < self.margin):
            raise ValueError("fail_margin is for non_inferiority, and at least margin")
        if self.fail_below is not None and (self.test != "superiority" or self.fail_below > self.min_effect):
            raise ValueError("fail_below is for superiority, and at most min_effect")
        if self.test == "superiority" and self.margin:
            raise ValueError("margin is for non_inferiority and equivalence; superiority uses min_effect")
        if self.test != "superiority" and self.min_effect:
            raise ValueError("min_effect is for superiority; non_inferiority and equivalence use margin")
        if self.test == "equivalence" and not self.margin:
            raise ValueError("an equivalence condition needs a margin > 0")
        if self.method == self.baseline:
            raise ValueError("method and baseline must be different arms")
        return self


class StdRule(_Pair):
    """The card's bar in standard deviations, applied literally to the seed means (no interval).

    ``beats``: ``effect > k * std``; ``not_worse``: ``effect >= -k * std``. ``std`` is the pooled sample
    std of the two arms (``pooled``), the baseline's (``baseline``), or that of the per-seed differences
    (``difference``).
    """

    kind: Literal["std_rule"] = "std_rule"
    test: Literal["beats", "not_worse"] = "beats"
    k: float = Field(1.0, gt=0.0)
    std: Literal["pooled", "baseline", "difference"] = "pooled"


class Threshold(_Condition):
    """``mean(figure) op value``, judged on the figure's interval: all of it, none of it, or part of it."""

    kind: Literal["threshold"] = "threshold"
    figure: Figure
    op: Op
    value: float
    fail_value: float | None = Field(None, description="a card that passes at `value` but fails only beyond a "
                                     "farther bar gives it here: 'does not reproduce' needs the whole interval on the "
                                     "wrong side of it; between the two is inconclusive (default: value)")

    @model_validator(mode="after")
    def _check_fail_value(self) -> Threshold:
        if self.fail_value is not None:
            farther = self.fail_value <= self.value if self.op in (">=", ">") else self.fail_value >= self.value
            if not farther:
                raise ValueError(f"fail_value {self.fail_value} must lie beyond value {self.value} on the failing "
                                 f"side of {self.op!r}")
        return self

    def arms(self) -> set[str]:
        return self.figure.arms()


class SeedCount(_Condition):
    """``left op right`` holds, seed by seed, in at least ``k`` seeds (``right``: a figure or a number)."""

    kind: Literal["seed_count"] = "seed_count"
    left: Figure
    op: Op
    right: Figure | float
    k: int = Field(ge=1)

    def arms(self) -> set[str]:
        return self.left.arms() | (self.right.arms() if isinstance(self.right, Figure) else set())


class Equal(_Condition):
    """``|left - right| <= tolerance`` in every seed (step counts, merged-equals-staged outputs)."""

    kind: Literal["equal"] = "equal"
    left: Figure
    right: Figure | float
    tolerance: float = Field(0.0, ge=0.0)

    def arms(self) -> set[str]:
        return self.left.arms() | (self.right.arms() if isinstance(self.right, Figure) else set())


class Monotone(_Condition):
    """Along ``arms`` (in order) the figure gets better (``strict``) or not worse by more than ``margin``.

    Each step is a ``compare`` of the next arm against the previous one (``superiority`` when strict,
    else ``non_inferiority`` with ``margin``); the condition holds when every step holds.
    """

    kind: Literal["monotone"] = "monotone"
    sequence: list[str] = Field(min_length=2, description="the arms, in the order of the trend")
    metric: str | None = None
    direction: Direction | None = None
    strict: bool = False
    margin: float = Field(0.0, ge=0.0)
    relative: bool = False
    paired: bool | None = None

    def arms(self) -> set[str]:
        return set(self.sequence)


class AnyOf(_Condition):
    """At least ``k`` of ``conditions`` hold (``k = 1``: the card's "neither A nor B ..." failure criteria;
    ``k = 2`` of three pairs: "Combiner-X beats X in at least 2 of the pairs"): reproduces when ``k`` of them
    reproduce, does not when so many clearly fail that fewer than ``k`` can still hold, inconclusive otherwise."""

    kind: Literal["any"] = "any"
    conditions: list[Condition] = Field(min_length=2)
    k: int = Field(1, ge=1, description="how many of the conditions must hold")

    @model_validator(mode="after")
    def _k_within(self) -> AnyOf:
        if self.k > len(self.conditions):
            raise ValueError(f"k={self.k} exceeds the {len(self.conditions)} conditions; allowed: 1.."
                             f"{len(self.conditions)}")
        return self

    def arms(self) -> set[str]:
        return set().union(*(c.arms() for c in self.conditions))


Condition = Annotated[Compare | StdRule | Threshold | SeedCount | Equal | Monotone | AnyOf,
                      Field(discriminator="kind")]
AnyOf.model_rebuild()


# ---- evaluation -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """What the conditions are judged on: per-seed final metrics of every arm, and the spec's defaults."""

    finals: Mapping[str, Sequence[Mapping[str, float]]]
    metric: str
    direction: str
    level: float
    paired: bool

    def values(self, arm: str, metric: str | None) -> list[float]:
        metric = metric or self.metric
        runs = self.finals[arm]
        missing = [i for i, r in enumerate(runs) if metric not in r]
        if missing:
            have = ", ".join(sorted(runs[missing[0]])) or "(none)"
            raise ForwardkitError(f"arm {arm!r} has no figure {metric!r} (its final metrics: {have})")
        return [float(r[metric]) for r in runs]

    def figure(self, fig: Figure) -> list[float]:
        top = self.values(fig.arm, fig.metric)
        if fig.minus is not None:
            sub = self.values(fig.minus.arm or fig.arm, fig.minus.metric or fig.metric)
            top = [a - b for a, b in zip(top, sub, strict=True)]
        if fig.over is None:
            return top
        over_arm, over_metric = fig.over.arm or fig.arm, fig.over.metric or fig.metric
        bottom = self.values(over_arm, over_metric)
        if fig.over.minus is not None:
            sub = self.values(fig.over.minus.arm or over_arm, fig.over.minus.metric or over_metric)
            bottom = [a - b for a, b in zip(bottom, sub, strict=True)]
        return [a / b if b else math.copysign(math.inf, a) if a else math.nan for a, b in zip(top, bottom, strict=True)]

    def operand(self, x: Figure | float, n: int) -> list[float]:
        return self.figure(x) if isinstance(x, Figure) else [float(x)] * n


@dataclass
class ConditionResult:
    """One condition's outcome, with the numbers it was decided on."""

    index: int
    kind: str
    text: str
    outcome: str
    reason: str
    label: str | None = None
    estimate: float | None = None
    interval: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "text": self.text, "label": self.label,
                "outcome": self.outcome, "reason": self.reason, "estimate": _finite(self.estimate),
                "interval": self.interval, "details": self.details}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _fmt(x: float) -> str:
    return f"{x + 0.0:.4g}"  # + 0.0: no "-0"


def _sign(direction: str) -> float:
    return 1.0 if direction == "higher" else -1.0


def _effect_interval(ctx: Context, method: str, baseline: str, metric: str | None, direction: str,
                     relative: bool, paired: bool) -> tuple[Interval, dict[str, Any]]:
    """The interval of the signed effect (positive = method better), and the per-seed numbers."""
    m, b = ctx.values(method, metric), ctx.values(baseline, metric)
    sign = _sign(direction)
    if paired:
        if relative:
            per = [sign * (x - y) / abs(y) if y else math.nan for x, y in zip(m, b, strict=True)]
            iv = mean_interval(per, ctx.level)
            iv = Interval(iv.estimate, iv.low, iv.high, iv.level, iv.n, iv.se, iv.df, "paired t, relative")
        else:
            iv = paired_interval(m, b, ctx.level).scaled(sign)
    else:
        iv = welch_interval(m, b, ctx.level).scaled(sign)
        if relative:
            base = abs(sum(b) / len(b))
            iv = iv.scaled(1.0 / base) if base else iv.scaled(math.nan)
            iv = Interval(iv.estimate, iv.low, iv.high, iv.level, iv.n, iv.se, iv.df, "Welch t, relative")
    return iv, {"method": m, "baseline": b}


def _judge(test: str, iv: Interval, min_effect: float, margin: float,
           fail_margin: float | None = None, fail_below: float | None = None) -> tuple[str, str]:
    """Outcome of a comparison from the interval ``[lo, hi]`` of the effect (positive = better)."""
    lo, hi = iv.low, iv.high
    if math.isnan(iv.estimate):
        return INCONCLUSIVE, "the effect is undefined (a baseline value is 0)"
    ci = f"effect {iv.text()}"
    if test == "superiority":
        if lo >= min_effect and lo > 0:
            return REPRODUCES, f"{ci}: the whole interval is above {_fmt(min_effect)}"
        if fail_below is not None:
            if hi < fail_below or hi <= 0:
                return DOES_NOT_REPRODUCE, f"{ci}: the whole interval is below the failure bar {_fmt(fail_below)}"
            return INCONCLUSIVE, f"{ci} is not wholly above {_fmt(min_effect)} nor wholly below {_fmt(fail_below)}"
        if hi < min_effect or hi <= 0:
            return DOES_NOT_REPRODUCE, f"{ci}: the whole interval is below the bar {_fmt(min_effect)}"
        return INCONCLUSIVE, f"{ci} contains the bar {_fmt(min_effect)}"
    if test == "non_inferiority":
        fail = margin if fail_margin is None else fail_margin
        if lo >= -margin:
            return REPRODUCES, f"{ci}: the whole interval is above -margin {_fmt(-margin)}"
        if hi < -fail:
            return DOES_NOT_REPRODUCE, f"{ci}: the whole interval is below {_fmt(-fail)}"
        return INCONCLUSIVE, f"{ci} is not wholly above -margin {_fmt(-margin)} nor wholly below {_fmt(-fail)}"
    if -margin <= lo and hi <= margin:
        return REPRODUCES, f"{ci} lies within ±{_fmt(margin)}"
    if lo > margin or hi < -margin:
        return DOES_NOT_REPRODUCE, f"{ci} lies outside ±{_fmt(margin)}"
    return INCONCLUSIVE, f"{ci} crosses ±{_fmt(margin)}"


def _describe_compare(c: Compare | Monotone, method: str, baseline: str, metric: str, direction: str,
                      test: str) -> str:
    unit = f" of `{baseline}`" if c.relative else ""
    pct = (lambda x: f"{x:.0%}") if c.relative else _fmt
    if test == "superiority":
        bar = f" by at least {pct(c.min_effect)}{unit}" if isinstance(c, Compare) and c.min_effect else ""
        head = f"`{method}` beats `{baseline}`{bar}"
    elif test == "non_inferiority":
        head = f"`{method}` is at most {pct(c.margin)}{unit} worse than `{baseline}`"
    else:
        head = f"`{method}` is within ±{pct(c.margin)}{unit} of `{baseline}`"
    return f"{head} on {metric} ({direction} is better)"


def _compare(c: Compare, ctx: Context) -> ConditionResult:
    metric, direction = c.metric or ctx.metric, c.direction or ctx.direction
    paired = ctx.paired if c.paired is None else c.paired
    iv, per = _effect_interval(ctx, c.method, c.baseline, metric, direction, c.relative, paired)
    outcome, why = _judge(c.test, iv, c.min_effect, c.margin, c.fail_margin, c.fail_below)
    text = _describe_compare(c, c.method, c.baseline, metric, direction, c.test)
    return ConditionResult(0, c.kind, text, outcome, f"{why} ({iv.method}, {ctx.level:.0%} interval)",
                           estimate=iv.estimate, interval=iv.to_dict(), details=per)


def _std_rule(c: StdRule, ctx: Context) -> ConditionResult:
    metric, direction = c.metric or ctx.metric, c.direction or ctx.direction
    m, b = ctx.values(c.method, metric), ctx.values(c.baseline, metric)
    effect = _sign(direction) * (sum(m) / len(m) - sum(b) / len(b))
    if c.std == "pooled":
        sd = pooled_sd(m, b)
    elif c.std == "baseline":
        sd = sample_sd(b) if len(b) > 1 else math.nan
    else:
        sd = sample_sd([x - y for x, y in zip(m, b, strict=True)]) if len(m) > 1 else math.nan
    words = {"pooled": "pooled std", "baseline": f"std of `{c.baseline}`", "difference": "std of the differences"}
    k = f"{c.k:g} " if c.k != 1 else "one "
    where = "above" if c.test == "beats" else "not below"
    text = f"`{c.method}` {where} `{c.baseline}` by more than {k}{words[c.std]} on {metric} ({direction} is better)"
    details = {"method": m, "baseline": b, "effect": effect, "std": _finite(sd)}
    if not math.isfinite(sd):
        return ConditionResult(0, c.kind, text, INCONCLUSIVE, "no std with a single seed", estimate=effect,
                               details=details)
    holds = effect > c.k * sd if c.test == "beats" else effect >= -c.k * sd
    rel = ">" if c.test == "beats" else ">="
    bound = c.k * sd if c.test == "beats" else -c.k * sd
    why = f"effect {_fmt(effect)} {rel if holds else 'not ' + rel} {_fmt(bound)} ({c.k:g} x std {_fmt(sd)})"
    return ConditionResult(0, c.kind, text, REPRODUCES if holds else DOES_NOT_REPRODUCE, why + " (literal rule)",
                           estimate=effect, details=details)


_FLIP = {">=": "<", ">": "<=", "<=": ">", "<": ">="}


def _threshold(c: Threshold, ctx: Context) -> ConditionResult:
    values = ctx.figure(c.figure)
    iv = mean_interval(values, ctx.level)
    text = f"mean of {c.figure.describe(ctx.metric)} {c.op} {_fmt(c.value)}"
    if c.fail_value is not None:
        text += f" (fails only {_FLIP[c.op]} {_fmt(c.fail_value)})"
    op = OPS[c.op]
    low_side = c.op in (">=", ">")  # the bound that must clear the value
    inner, outer = (iv.low, iv.high) if low_side else (iv.high, iv.low)
    if math.isnan(iv.estimate):
        outcome, why = INCONCLUSIVE, "the figure is undefined"
    elif op(inner, c.value):
        outcome, why = REPRODUCES, f"mean {iv.text()}: the whole interval is {c.op} {_fmt(c.value)}"
    elif OPS[_FLIP[c.op]](outer, c.value if c.fail_value is None else c.fail_value):
        bar = c.value if c.fail_value is None else c.fail_value
        outcome, why = DOES_NOT_REPRODUCE, f"mean {iv.text()}: the whole interval is {_FLIP[c.op]} {_fmt(bar)}"
    elif c.fail_value is not None:
        outcome, why = INCONCLUSIVE, (f"mean {iv.text()} is not wholly {c.op} {_fmt(c.value)} nor wholly "
                                      f"{_FLIP[c.op]} the failure bar {_fmt(c.fail_value)}")
    else:
        outcome, why = INCONCLUSIVE, f"mean {iv.text()} contains {_fmt(c.value)}"
    return ConditionResult(0, c.kind, text, outcome, f"{why} ({ctx.level:.0%} t interval)", estimate=iv.estimate,
                           interval=iv.to_dict(), details={"values": values})


def _seed_count(c: SeedCount, ctx: Context) -> ConditionResult:
    left = ctx.figure(c.left)
    right = ctx.operand(c.right, len(left))
    holds = [OPS[c.op](a, b) for a, b in zip(left, right, strict=True)]
    rhs = c.right.describe(ctx.metric) if isinstance(c.right, Figure) else _fmt(c.right)
    text = f"{c.left.describe(ctx.metric)} {c.op} {rhs} in at least {c.k} seeds"
    count = sum(holds)
    outcome = REPRODUCES if count >= c.k else DOES_NOT_REPRODUCE
    why = f"holds in {count} of {len(holds)} seeds (needs {c.k})"
    return ConditionResult(0, c.kind, text, outcome, why, estimate=float(count),
                           details={"left": left, "right": right, "holds": holds})


def _equal(c: Equal, ctx: Context) -> ConditionResult:
    left = ctx.figure(c.left)
    right = ctx.operand(c.right, len(left))
    diffs = [abs(a - b) for a, b in zip(left, right, strict=True)]
    rhs = c.right.describe(ctx.metric) if isinstance(c.right, Figure) else _fmt(c.right)
    tol = f" (± {c.tolerance:g})" if c.tolerance else ""
    text = f"{c.left.describe(ctx.metric)} == {rhs}{tol} in every seed"
    bad = [i for i, d in enumerate(diffs) if not d <= c.tolerance]
    worst = max(diffs)
    if bad:
        return ConditionResult(0, c.kind, text, DOES_NOT_REPRODUCE,
                               f"differs in {len(bad)} of {len(diffs)} seeds (largest difference {_fmt(worst)})",
                               estimate=worst, details={"left": left, "right": right})
    return ConditionResult(0, c.kind, text, REPRODUCES, f"equal in all {len(diffs)} seeds (largest difference "
                           f"{_fmt(worst)})", estimate=worst, details={"left": left, "right": right})


def _monotone(c: Monotone, ctx: Context) -> ConditionResult:
    metric, direction = c.metric or ctx.metric, c.direction or ctx.direction
    paired = ctx.paired if c.paired is None else c.paired
    test = "superiority" if c.strict else "non_inferiority"
    steps: list[dict[str, Any]] = []
    for prev, nxt in zip(c.sequence, c.sequence[1:], strict=False):
        iv, _ = _effect_interval(ctx, nxt, prev, metric, direction, c.relative, paired)
        outcome, why = _judge(test, iv, 0.0, c.margin)
        steps.append({"from": prev, "to": nxt, "outcome": outcome, "reason": why, "interval": iv.to_dict()})
    trend = "gets better" if c.strict else ("does not get worse" + (f" by more than {c.margin:g}" if c.margin else ""))
    text = f"{metric} ({direction} is better) {trend} along " + " → ".join(f"`{a}`" for a in c.sequence)
    outcomes = [str(s["outcome"]) for s in steps]
    outcome = combine(outcomes)
    why = "; ".join(f"{s['from']}→{s['to']}: {s['outcome']} ({s['reason']})" for s in steps)
    return ConditionResult(0, c.kind, text, outcome, why, details={"steps": steps})


def _any_of(c: AnyOf, ctx: Context) -> ConditionResult:
    parts = [evaluate(sub, ctx, i) for i, sub in enumerate(c.conditions)]
    outcomes = [p.outcome for p in parts]
    held, failed = outcomes.count(REPRODUCES), outcomes.count(DOES_NOT_REPRODUCE)
    if held >= c.k:
        outcome = REPRODUCES
    elif len(outcomes) - failed < c.k:
        outcome = DOES_NOT_REPRODUCE
    else:
        outcome = INCONCLUSIVE
    head = "at least one of" if c.k == 1 else f"at least {c.k} of"
    text = f"{head}: " + "; ".join(f"({p.text})" for p in parts)
    why = "; ".join(f"({i + 1}) {p.outcome}: {p.reason}" for i, p in enumerate(parts))
    return ConditionResult(0, c.kind, text, outcome, why, details={"parts": [p.to_dict() for p in parts]})


_EVALUATORS: dict[type, Callable[[Any, Context], ConditionResult]] = {
    Compare: _compare, StdRule: _std_rule, Threshold: _threshold, SeedCount: _seed_count, Equal: _equal,
    Monotone: _monotone, AnyOf: _any_of,
}


def combine(outcomes: Sequence[str]) -> str:
    """Reproduces when every outcome does; does not when any clearly fails; inconclusive otherwise."""
    if any(o == DOES_NOT_REPRODUCE for o in outcomes):
        return DOES_NOT_REPRODUCE
    if outcomes and all(o == REPRODUCES for o in outcomes):
        return REPRODUCES
    return INCONCLUSIVE


def evaluate(condition: Any, ctx: Context, index: int = 0) -> ConditionResult:
    """Judge one condition on the measured figures; fewer than :data:`MIN_SEEDS` seeds never reproduce."""
    result = _EVALUATORS[type(condition)](condition, ctx)
    result.index, result.label = index, condition.label
    n = min(len(ctx.finals[a]) for a in condition.arms())
    if result.outcome == REPRODUCES and n < MIN_SEEDS:
        result.outcome = INCONCLUSIVE
        result.reason = f"too few seeds ({n} < {MIN_SEEDS}) to reproduce, though on these: {result.reason}"
        result.details["too_few_seeds"] = True
    return result
