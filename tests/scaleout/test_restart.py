"""A many-run job that was interrupted and is started again skips the runs it finished (local backend)."""

from __future__ import annotations

import json

import pytest

from forwardkit.journal import RunJournal, run_key


def test_the_journal_keeps_results_by_key_and_ignores_broken_records(tmp_path):
    journal = RunJournal(folder=tmp_path / ".journal" / "job")
    key = run_key({"experiment": {"seed": 1}, "arm": "a"})
    assert key == run_key({"arm": "a", "experiment": {"seed": 1}}) != run_key({"arm": "a", "experiment": {"seed": 2}})
    assert journal.get(key) is None and len(journal) == 0
    journal.put(key, {"final": {"acc": 0.5}}, label="a seed 1")
    assert journal.get(key) == {"final": {"acc": 0.5}} and len(journal) == 1
    (journal.folder / "0123456789abcdef.json").write_text("{not json")  # a record cut off mid-write
    assert journal.get("0123456789abcdef") is None
    journal.clear()
    assert not (tmp_path / ".journal").exists()  # the emptied .journal folder goes too


def test_an_interrupted_bakeoff_started_again_trains_only_the_entries_left(tmp_path, monkeypatch, capsys):
    import forwardkit.engine.bakeoff as bakeoff

    cfg = bakeoff.BakeoffConfig(mixers=["identity", "pooling"], trainer={"epochs": 1, "max_steps": 2}, workers=1)
    real = bakeoff.train_entry
    trained: list[str] = []

    def interrupted(mixer, *args, **kwargs):
        if mixer == "pooling":
            raise KeyboardInterrupt  # the job is stopped while its second entry trains
        trained.append(mixer)
        return real(mixer, *args, **kwargs)

    monkeypatch.setattr(bakeoff, "train_entry", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bakeoff.run_bakeoff(cfg, out_dir=tmp_path, verbose=False)
    assert trained == ["identity"] and len(RunJournal(folder=tmp_path / ".journal")) == 1

    def counted(mixer, *args, **kwargs):
        trained.append(mixer)
        return real(mixer, *args, **kwargs)

    monkeypatch.setattr(bakeoff, "train_entry", counted)
    results = bakeoff.run_bakeoff(cfg, out_dir=tmp_path, verbose=True)
    assert trained == ["identity", "pooling"]  # identity was not trained again
    assert "identity: finished earlier" in capsys.readouterr().out
    assert sorted(r["mixer"] for r in results["leaderboard"]) == ["identity", "pooling"]
    assert json.loads((tmp_path / "results.json").read_text())["leaderboard"] == results["leaderboard"]
    assert not (tmp_path / ".journal").exists()  # done: a later start computes everything afresh


def test_an_interrupted_bench_started_again_measures_only_the_jobs_left(tmp_path, monkeypatch):
    from forwardkit.bench.mixers import Job, run_job, run_jobs

    jobs = [Job(kind="token_mixer", name=name, rank=1, sizes=[16], repeats=3, warmup=1, budget_s=0.2)
            for name in ("identity", "attention")]
    journal = RunJournal(folder=tmp_path / ".journal" / "token_mixer")
    ran: list[str] = []

    def interrupted(job, registry=None):
        if job.name == "attention":
            raise KeyboardInterrupt
        ran.append(job.name)
        return run_job(job, registry)

    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, workers=1, runner=interrupted, journal=journal)
    first = journal.get(run_key({"runner": "interrupted", "job": {**jobs[0].__dict__}}))
    assert ran == ["identity"] and len(journal) == 1 and first[0]["status"] == "ok"

    def counted(job, registry=None):
        ran.append(job.name)
        return run_job(job, registry)

    counted.__name__ = "interrupted"  # the same command started again: the same runner
    shown: list[str] = []
    rows = run_jobs(jobs, workers=1, runner=counted, journal=journal, on_done=lambda r: shown.append(r[0]["name"]))
    assert ran == ["identity", "attention"] and sorted(shown) == ["attention", "identity"]
    assert [r["name"] for r in rows] == ["identity", "attention"] and rows[0] == first[0]


def test_bench_with_out_keeps_no_journal_once_written(cli_here, tmp_path):
    out = tmp_path / "b"
    proc = cli_here("bench", "mixers", "--names", "identity", "--ranks", "1", "--sizes", "16", "--quick",
                    "--workers", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "results.json").is_file() and not (out / ".journal").exists()
