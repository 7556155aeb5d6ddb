"""The Ray backend on a local 2-CPU cluster: same numbers as the local backend, failures reported per run."""

from __future__ import annotations

import json
import math
import os

import pytest

from forwardkit.errors import ForwardkitError
from forwardkit.parallel import run_parallel

from .conftest import load_tiny, numbers

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def two_cores(monkeypatch):
    """Plan as on the 2-core machines the suite is sized for (1 thread per run), whatever this one has."""
    import forwardkit.parallel

    monkeypatch.setattr(forwardkit.parallel, "cpu_cores", lambda: 2)


def test_results_in_call_order_as_they_finish_and_failures_per_run(ray_cluster):
    seen = []
    out = run_parallel(math.factorial, [(5,), (-1,), (4,)], backend="ray", address=ray_cluster,
                       on_done=lambda i, r: seen.append(i), on_error=lambda i, exc: type(exc).__name__)
    assert out == [120, "ValueError", 24] and sorted(seen) == [0, 1, 2]
    with pytest.raises(ValueError, match="not defined for negative"):  # the task's own exception, as locally
        run_parallel(math.factorial, [(3,), (-1,)], backend="ray")
    # a worker that dies is reported for its run (not retried), and the other runs go on
    out = run_parallel(os._exit, [(3,)], backend="ray", on_error=lambda i, exc: type(exc).__name__)
    assert out == ["WorkerCrashedError"]
    assert run_parallel(math.factorial, [(6,)], backend="ray", resources={"num_cpus": 1}) == [720]
    with pytest.raises(ForwardkitError, match=r"asks Ray for 3 CPU, but no node .* has more than 2"):
        run_parallel(math.factorial, [(1,)], backend="ray", resources={"num_cpus": 3})


def test_a_smoke_reproduction_gives_the_local_numbers(ray_cluster, fake_registry, cli_here, tmp_path):
    local = cli_here("reproduce", "tiny-one", "--smoke", "--workers", "1", "--out", str(tmp_path / "local"))
    ray = cli_here("reproduce", "tiny-one", "--smoke", "--backend", "ray", "--address", ray_cluster,
                   "--out", str(tmp_path / "ray"))
    assert local.returncode == 0 and ray.returncode == 0, ray.stdout + ray.stderr
    assert "as Ray tasks of 1 CPU(s) each on the Ray cluster at 127.0.0.1:" in ray.stderr
    a, b = (json.loads((tmp_path / w / "results.json").read_text()) for w in ("local", "ray"))
    assert b["backend"] == "ray" and a["backend"] == "local"
    assert numbers(a) == numbers(b) and a["verdict"] == b["verdict"]
    assert not (tmp_path / "ray" / ".journal").exists()  # done: the journal of finished runs is gone


def test_a_two_entry_bakeoff_gives_the_local_leaderboard(ray_cluster, cli_here, tmp_path):
    from forwardkit.engine.bakeoff import BakeoffConfig, run_bakeoff

    sets = ["--set", "mixers=[identity,pooling]", "--set", "trainer.epochs=1", "--set", "trainer.max_steps=3"]
    proc = cli_here("run", *sets, "--backend", "ray", "--address", ray_cluster, "--run-dir", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "as Ray tasks of 1 CPU(s) each" in proc.stdout
    cfg = BakeoffConfig(mixers=["identity", "pooling"], trainer={"epochs": 1, "max_steps": 3}, workers=1)
    local = run_bakeoff(cfg, out_dir=tmp_path / "l", verbose=False)

    def rows(board):
        return sorted(({k: v for k, v in r.items() if k not in ("seconds", "train_samples_per_s")} for r in board),
                      key=lambda r: r["mixer"])

    ray = json.loads((tmp_path / "r" / "results.json").read_text())
    assert ray["backend"] == "ray" and all("error" not in r for r in ray["leaderboard"])
    assert rows(ray["leaderboard"]) == rows(local["leaderboard"])
    assert (tmp_path / "r" / "identity" / "metrics.jsonl").is_file()  # each entry's run folder, written by its task


def test_failed_runs_are_reported_together_and_the_finished_ones_kept(ray_cluster, tiny_specs, tmp_path, capsys):
    from forwardkit.journal import RunJournal
    from forwardkit.reproduce.runner import run_reproduction

    journal = RunJournal(folder=tmp_path / "journal")
    with pytest.raises(ForwardkitError, match=r"2 of 8 runs .* failed: broken seed 0: TypeError.*seed 1: Type"
                                              r".*the 6 finished runs are kept in"):
        run_reproduction(load_tiny("BROKEN"), slug="broken", out_dir=None, seeds=[0, 1], smoke=True, workers=2,
                         verbose=False, backend="ray", address=ray_cluster, journal=journal)
    assert len(journal) == 6  # every run but the program arm's finished and is kept
    # started again (the broken arm mended: ONE has the same three arms), nothing is run again
    again = run_reproduction(load_tiny("ONE"), slug="broken", out_dir=None, seeds=[0, 1], smoke=True, workers=2,
                             verbose=True, backend="ray", address=ray_cluster, journal=journal)
    assert "6 of 6 runs finished earlier" in capsys.readouterr().err
    recorded = sorted(json.dumps(journal.get(p.stem)["final"], sort_keys=True) for p in journal.folder.glob("*.json"))
    reported = sorted(json.dumps(final, sort_keys=True) for arm in again["arms"].values() for final in arm["final"])
    assert recorded == reported and len(reported) == 6  # the results are the recorded ones


def test_bench_through_ray_measures_the_same_components(ray_cluster, cli_here):
    args = ["bench", "mixers", "--names", "identity", "--ranks", "1", "--sizes", "16", "--quick", "--json"]
    local = json.loads(cli_here(*args, "--workers", "1").stdout)
    ray = json.loads(cli_here(*args, "--backend", "ray", "--address", ray_cluster).stdout)
    assert ray["settings"]["backend"] == "ray" and any("Ray tasks" in n for n in ray["notes"])

    def fixed(data):
        return [(r["name"], r["tokens"], r["status"], r.get("params"), r.get("macs")) for r in data["results"]]

    assert fixed(ray) == fixed(local) and all(r["status"] == "ok" for r in ray["results"])
