"""Gap figures ``(method - base) / (target - base)`` (``Figure.minus``, ``Ratio.minus``) and a threshold whose
failure bar lies beyond its pass bar (``Threshold.fail_value``): "covers >= 25 % of the gap; fails below 10 %"."""

from __future__ import annotations

import pytest

from forwardkit.reproduce.conditions import (
    DOES_NOT_REPRODUCE,
    INCONCLUSIVE,
    REPRODUCES,
    Context,
    Difference,
    Figure,
    Ratio,
    Threshold,
    evaluate,
)
from forwardkit.reproduce.runner import figures_of
from forwardkit.reproduce.spec import ReproductionSpec


def _ctx(finals: dict[str, list[float]], metric: str = "acc") -> Context:
    runs = {a: [{metric: v} for v in vals] for a, vals in finals.items()}
    return Context(finals=runs, metric=metric, direction="higher", level=0.9, paired=True)


GAP = Figure(arm="method", minus=Difference(arm="base"), over=Ratio(arm="target", minus=Difference(arm="base")))


def test_a_gap_figure_is_the_fraction_of_the_gap_covered_seed_by_seed():
    finals = {"base": [0.5, 0.6, 0.4], "method": [0.75, 0.7, 0.6], "target": [1.0, 1.0, 0.8]}
    r = evaluate(Threshold(figure=GAP, op=">=", value=0.2), _ctx(finals))
    assert r.details["values"] == pytest.approx([0.5, 0.25, 0.5])
    assert "(`method` acc - `base` acc) / (`target` acc - `base` acc)" in r.text
    assert GAP.arms() == {"method", "base", "target"}
    plain = Figure(arm="method", minus=Difference(arm="base"))  # a difference without a ratio
    assert evaluate(Threshold(figure=plain, op=">", value=0.0), _ctx(finals)).details["values"] == \
        pytest.approx([0.25, 0.1, 0.2])
    other = Figure(arm="a", metric="x", minus=Difference(metric="y"))  # same arm, another metric
    ctx = Context(finals={"a": [{"x": 3.0, "y": 1.0}] * 3}, metric="x", direction="higher", level=0.9, paired=True)
    assert evaluate(Threshold(figure=other, op=">=", value=2.0), ctx).details["values"] == [2.0, 2.0, 2.0]


@pytest.mark.parametrize(("covered", "outcome"), [
    ([0.30, 0.32, 0.31], REPRODUCES),
    ([0.16, 0.17, 0.18], INCONCLUSIVE),  # below the pass bar, above the failure bar
    ([0.02, 0.03, 0.04], DOES_NOT_REPRODUCE),
])
def test_a_fail_value_leaves_the_band_between_the_bars_inconclusive(covered, outcome):
    finals = {"base": [0.0] * 3, "method": covered, "target": [1.0] * 3}
    c = Threshold(figure=GAP, op=">=", value=0.25, fail_value=0.10)
    r = evaluate(c, _ctx(finals))
    assert r.outcome == outcome and "fails only < 0.1" in r.text
    plain = Threshold(figure=GAP, op=">=", value=0.25)  # without it the middle band fails
    expected = DOES_NOT_REPRODUCE if outcome == INCONCLUSIVE else outcome
    assert evaluate(plain, _ctx(finals)).outcome == expected


def test_a_fail_value_on_the_passing_side_is_refused():
    with pytest.raises(ValueError, match="beyond value"):
        Threshold(figure=GAP, op=">=", value=0.25, fail_value=0.3)
    with pytest.raises(ValueError, match="beyond value"):
        Threshold(figure=GAP, op="<=", value=0.25, fail_value=0.2)
    Threshold(figure=GAP, op="<=", value=0.25, fail_value=0.3)


def test_the_runner_lists_the_metrics_a_gap_reads():
    spec = ReproductionSpec(
        paper="P", claim="c", paper_result="r", pass_bar="b", metric="m",
        base={"data": {"name": "blobs"}, "model": {"name": "mlp"}},
        arms={"base": {}, "method": {}, "target": {}},
        conditions=[{"kind": "threshold", "op": ">=", "value": 0.25, "fail_value": 0.1,
                     "figure": {"arm": "method", "metric": "t", "minus": {"arm": "base", "metric": "u"},
                                "over": {"arm": "target", "minus": {"arm": "base", "metric": "v"}}}}],
    )
    assert {"t", "u", "v"} <= set(figures_of(spec))
