"""The worked example of docs/measuring.md is what the verdict code computes."""

from __future__ import annotations

from pathlib import Path

from forwardkit.reproduce.conditions import Compare, StdRule
from forwardkit.reproduce.verdict import judge

DOC = (Path(__file__).resolve().parents[2] / "docs" / "measuring.md").read_text(encoding="utf-8")
FINALS = {"baseline": [0.912, 0.905, 0.921], "method": [0.934, 0.919, 0.941], "ablation": [0.899, 0.915, 0.910]}


def finals():
    return {arm: [{"test/accuracy": x} for x in values] for arm, values in FINALS.items()}


def test_the_worked_example_matches_the_code():
    conditions = [Compare(method="method", baseline="baseline", min_effect=0.01),
                  StdRule(method="method", baseline="baseline"),
                  Compare(method="ablation", baseline="baseline", test="non_inferiority", margin=0.01)]
    v = judge(conditions, finals(), metric="test/accuracy", direction="higher")
    first, second, third = v.conditions
    assert v.outcome == "inconclusive" and "2 of 3 conditions hold" in v.reason
    assert first["outcome"] == "reproduces" and second["outcome"] == "reproduces"
    assert third["outcome"] == "inconclusive"
    for number in (f"[{first['interval']['low']:.4g}, {first['interval']['high']:.4g}]",
                   f"{second['details']['std']:.3g}",
                   f"[{third['interval']['low']:.4g}, {third['interval']['high']:.4g}]".replace("-", "\N{MINUS SIGN}")):
        assert number in DOC, number
    welch = judge([Compare(method="method", baseline="baseline", min_effect=0.01, paired=False)], finals(),
                  metric="test/accuracy", direction="higher").conditions[0]
    assert welch["outcome"] == "inconclusive"
    assert f"[{welch['interval']['low']:.3g}, {welch['interval']['high']:.4g}]" in DOC
