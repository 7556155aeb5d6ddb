"""Test helpers for a plugin's reproduction spec: judge it on synthetic final metrics, and run its smoke.

In a plugin's ``tests/test_reproduction.py``::

    from forwardkit.testing import judge_spec, smoke_reproduction

    def test_the_pass_bar_fails_when_the_method_is_worse():
        finals = {"method": [{"test/accuracy": 0.80}] * 3, "baseline": [{"test/accuracy": 0.90}] * 3}
        assert judge_spec(SPEC, finals).outcome == DOES_NOT_REPRODUCE

    def test_smoke_reproduction_runs_every_arm(tmp_path):
        results = smoke_reproduction("my-plugin", tmp_path)
        assert "test/accuracy" in results["arms"]["method"]["final"][0]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["judge_spec", "smoke_reproduction"]


def judge_spec(spec: Any, finals: Mapping[str, Sequence[Mapping[str, float]]]) -> Any:
    """The verdict of ``spec``'s conditions on ``finals`` (arm -> one dict of final metrics per seed), judged
    with the spec's own metric, direction, interval level and pairing, as ``forwardkit reproduce`` judges it."""
    from forwardkit.reproduce.verdict import judge

    return judge(spec.conditions, finals, metric=spec.metric, direction=spec.direction, level=spec.level,
                 paired=spec.paired)


def smoke_reproduction(slug: str, out: str | Path, *, seeds: int = 1, workers: int = 1) -> dict[str, Any]:
    """Run ``forwardkit reproduce <slug> --smoke`` through the CLI into ``out`` and return its results.json,
    after asserting that the command succeeded, that the results say smoke, and that every arm of the spec
    ran (an AssertionError carries the command's output)."""
    from click.testing import CliRunner

    from forwardkit import get_registry
    from forwardkit.cli.main import cli
    from forwardkit.reproduce.spec import load_spec

    out = Path(out)
    result = CliRunner().invoke(cli, ["reproduce", slug, "--smoke", "--seeds", str(seeds), "--workers",
                                      str(workers), "--out", str(out)])
    assert result.exit_code == 0, result.output
    results: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    spec = load_spec(get_registry().reproductions[slug])
    assert results["smoke"], "the results of a --smoke run do not say smoke"
    assert set(results["arms"]) == set(spec.arms), f"arms run {sorted(results['arms'])} != spec {sorted(spec.arms)}"
    return results
