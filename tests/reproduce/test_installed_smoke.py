"""`forwardkit reproduce <slug> --smoke` for every installed plugin that declares a reproduction."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from forwardkit.cli.main import cli
from forwardkit.registry import default_registry

DECLARED = sorted(default_registry().reproductions)


def test_the_repository_plugins_declare_reproductions():
    assert len(DECLARED) >= 1, "no installed plugin declares a reproduction"


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
