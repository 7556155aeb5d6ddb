"""`forwardkit reproduce <slug> --smoke` for every installed plugin that declares a reproduction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from forwardkit.cli.main import cli
from forwardkit.registry import default_registry

DECLARED = sorted(default_registry().reproductions)
ROOT = Path(__file__).resolve().parents[2]
PAPERS = json.loads((ROOT / "tools" / "papers.json").read_text(encoding="utf-8"))["papers"]
PAPER_PLUGINS = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml") if p.parent.name in PAPERS)


def test_every_paper_plugin_declares_its_cards_reproduction():
    """Each plugin under plugins/ that implements a paper with a card reproduction declares one."""
    assert PAPER_PLUGINS, "no paper plugin found under plugins/"
    with_card = [slug for slug in PAPER_PLUGINS if PAPERS[slug]["reproduction"]]
    missing = [slug for slug in with_card if slug not in DECLARED]
    assert not missing, f"paper plugins without a declared reproduction: {missing}"


@pytest.mark.parametrize("slug", DECLARED)
def test_smoke_reproduction(slug, tmp_path):
    result = CliRunner().invoke(cli, ["reproduce", slug, "--smoke", "--seeds", "1", "--workers", "1",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    verdict = [line for line in result.output.splitlines() if line.startswith(f"{slug}: ")]
    assert verdict and "(smoke)" in verdict[0]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["smoke"] and results["verdict"]["outcome"] in {
        "reproduces", "does not reproduce at this scale", "inconclusive"}
    assert (tmp_path / "report.md").is_file() and (tmp_path / "figure.png").is_file()


KEPT = [s for s in PAPER_PLUGINS if (ROOT / "plugins" / s / "reports" / "results.json").is_file()]


@pytest.mark.parametrize("slug", KEPT)
def test_the_kept_report_was_run_with_the_declared_spec(slug):
    """A spec changed after its full run makes the kept report stale: rerun it (the history keeps the old one)."""
    from forwardkit.reproduce.spec import canonical_hash, load_spec

    results = json.loads((ROOT / "plugins" / slug / "reports" / "results.json").read_text(encoding="utf-8"))
    assert not results.get("smoke"), "a smoke run was kept as the plugin's report"
    declared = load_spec(default_registry().reproductions[slug]).fingerprint()
    ran = canonical_hash(results.get("spec"), results.get("spec_hash"))
    assert ran == declared, (f"plugins/{slug}/reports/results.json was run with spec {ran}, the plugin now declares "
                             f"{declared}: rerun `forwardkit reproduce {slug}`")
    assert len(results["seeds"]) >= 3, "a full run has at least 3 seeds"
