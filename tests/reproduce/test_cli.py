"""``forwardkit reproduce`` end to end on a tiny spec of builtin components (blobs + mlp)."""

from __future__ import annotations

import json
import os
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from forwardkit.cli.main import cli
from forwardkit.registry import Registry, set_default_registry
from forwardkit.reproduce.report import reproductions_page

from .conftest import reproduce_here, tiny_spec

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, site):
    from importlib import util

    spec = util.spec_from_file_location("fk_tests_conftest", ROOT / "tests" / "conftest.py")
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return module.run_cli("reproduce", *args, env={"PYTHONPATH": path})


@pytest.fixture(scope="module")
def full_runs(tiny_site, tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    one = _cli("tiny", "--workers", "1", "--out", str(out / "w1"), site=tiny_site)
    two = _cli("tiny", "--workers", "2", "--out", str(out / "w2"), site=tiny_site)
    return out, one, two


def test_a_full_run_writes_the_report_and_prints_the_verdict(full_runs):
    out, one, _ = full_runs
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("tiny: ")
    assert "[9/9]" in one.stderr  # plain progress lines off a terminal
    for name in ("report.md", "results.json", "figure.png"):
        assert (out / "w1" / name).is_file(), name
    results = json.loads((out / "w1" / "results.json").read_text())
    assert results["seeds"] == [0, 1, 2] and not results["smoke"]
    verdict = results["verdict"]
    assert verdict["outcome"] in ("reproduces", "does not reproduce at this scale", "inconclusive")
    assert verdict["label"] in one.stdout
    assert [c["text"] in one.stdout for c in verdict["conditions"]] == [True, True]  # each condition printed
    assert results["command"] == "forwardkit reproduce tiny --seeds 3"
    fig = results["arms"]["method"]["figures"]["test/accuracy"]
    assert len(fig["values"]) == 3 and fig["low"] <= fig["mean"] <= fig["high"]
    assert results["arms"]["wide"]["role"] == "exploratory" and results["arms"]["method"]["role"] == "condition"
    assert results["pass_bar"].startswith("method above baseline") and len(results["spec_hash"]) == 16
    report = (out / "w1" / "report.md").read_text()
    assert "A wider hidden layer" in report and verdict["reason"] in report and "figure.png" in report
    assert "> method above baseline" in report and results["spec_hash"] in report
    assert "Exploratory arms" in report and "`wide`" in report and "90% interval" in report
    assert "mean ± std" not in report


def test_two_workers_give_the_same_numbers_as_one(full_runs):
    out, _, two = full_runs
    assert two.returncode == 0, two.stderr
    a, b = (json.loads((out / w / "results.json").read_text()) for w in ("w1", "w2"))
    assert b["workers"] == 2
    def numbers(r):
        return {k: [{m: x for m, x in f.items() if "/accuracy" in m or "/loss" in m} for f in v["final"]]
                for k, v in r["arms"].items()}

    assert numbers(a) == numbers(b)
    assert a["verdict"] == b["verdict"]


def test_smoke_run_writes_to_the_given_folder_and_says_smoke(tiny_site, tmp_path):
    proc = _cli("tiny", "--smoke", "--workers", "1", "--out", str(tmp_path / "s"), site=tiny_site)
    assert proc.returncode == 0, proc.stderr
    assert "(smoke)" in proc.stdout
    results = json.loads((tmp_path / "s" / "results.json").read_text())
    assert results["smoke"] and results["seeds"] == [0, 1]
    assert "Smoke run" in (tmp_path / "s" / "report.md").read_text()


def test_default_output_folders():
    from forwardkit.cli.reproduce import default_out

    assert default_out("datasets", smoke=False, stamp="t") == ROOT / "plugins" / "datasets" / "reports"
    smoke = default_out("datasets", smoke=True, stamp="t")
    assert "plugins" not in smoke.parts and smoke.parts[0] == "runs"
    assert default_out("not-in-repo", smoke=False, stamp="t").parts[0] == "runs"


@pytest.fixture
def fake_registry(tiny_site, monkeypatch):
    """The default registry with the builtin plugin and the tiny plugin loaded through Registry.load_plugin."""
    monkeypatch.syspath_prepend(str(tiny_site))
    registry = Registry.discover(entry_points=False)

    def register(registry):
        registry.add_reproduction(spec="fkrepro_tiny:SPEC")

    module = types.ModuleType("fkfake_tiny")
    module.forwardkit_register = register
    assert registry.load_plugin("tiny", lambda: module).ok
    registry.load_plugin("norepro", lambda: types.SimpleNamespace(forwardkit_register=lambda registry: None))
    set_default_registry(registry)
    yield registry
    set_default_registry(None)


def test_reproduce_all_smoke_prints_one_line_per_plugin(fake_registry, tmp_path):
    result = CliRunner().invoke(cli, ["reproduce", "--all", "--smoke", "--workers", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith(("[", "index:", "  "))]
    assert sorted(line.split(":")[0] for line in lines) == sorted(fake_registry.plugins)
    assert "builtin: no reproduction declared" in lines and "norepro: no reproduction declared" in lines
    assert any(line.startswith("tiny: ") and "(smoke)" in line for line in lines)
    index = json.loads((tmp_path / "index.json").read_text())
    assert {row["slug"] for row in index} == set(fake_registry.plugins)
    assert (tmp_path / "index.md").is_file() and (tmp_path / "tiny" / "report.md").is_file()


def test_unknown_slug_exits_2_with_close_matches(fake_registry):
    result = CliRunner().invoke(cli, ["reproduce", "tinny"])
    assert result.exit_code == 2
    assert "Did you mean 'tiny'" in result.output
    result = CliRunner().invoke(cli, ["reproduce", "norepro"])
    assert result.exit_code == 2 and "declares no reproduction" in result.output


def test_docs_page_lists_kept_reports_and_says_so_when_there_are_none(full_runs, tmp_path):
    assert "No reproduction reports have been written yet." in reproductions_page(tmp_path)
    out, _, _ = full_runs
    reports = tmp_path / "tiny" / "reports"
    reports.mkdir(parents=True)
    (reports / "results.json").write_text((out / "w1" / "results.json").read_text())
    page = reproductions_page(tmp_path)
    assert "| tiny | [Tiny test paper](https://arxiv.org/abs/0000.00000) |" in page
    assert "forwardkit reproduce tiny --seeds 3" in page and "No reproduction reports" not in page
    assert "conditions hold" in page


def test_a_rerun_keeps_the_earlier_runs_and_marks_a_changed_spec(tmp_path):
    """Preregistration that shows: the second and third full runs carry the earlier ones in their history."""
    out = tmp_path / "r"
    first = reproduce_here(tiny_spec(), out)
    assert first["history"] == []
    changed = tiny_spec().model_dump()
    changed["conditions"][1]["value"] = 0.2
    reproduce_here(tiny_spec(conditions=changed["conditions"]), out)
    second = json.loads((out / "results.json").read_text())
    assert second["spec_hash"] != first["spec_hash"]
    assert [h["spec_hash"] for h in second["history"]] == [first["spec_hash"]]
    assert second["history"][0]["outcome"] == first["verdict"]["label"]
    assert second["history"][0]["spec"]["conditions"][1]["value"] == 0.3
    report = (out / "report.md").read_text()
    assert "**different spec**" in report and first["spec_hash"] in report
    reproduce_here(tiny_spec(conditions=changed["conditions"]), out)
    third = json.loads((out / "results.json").read_text())
    assert [h["spec_hash"] for h in third["history"]] == [first["spec_hash"], second["spec_hash"]]
    assert "1 of 2 earlier runs used a different spec" in (out / "report.md").read_text()


def test_smoke_runs_never_enter_or_carry_history(tmp_path):
    out = tmp_path / "s"
    for _ in range(2):
        reproduce_here(tiny_spec(), out, smoke=True)
    assert json.loads((out / "results.json").read_text())["history"] == []


def test_exclusive_arms_run_last_and_alone(tmp_path, capsys):
    reproduce_here(tiny_spec(exclusive=["baseline"]), tmp_path / "out", verbose=True)
    order = [line.split(": ")[1].split(" seed")[0] for line in capsys.readouterr().err.splitlines()
             if line.startswith("[")]
    assert order[-3:] == ["baseline"] * 3 and "baseline" not in order[:-3]
