"""Data-parallel training: 2 processes (gloo, CPU) reach the weights of 1 process with the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml

from .conftest import final_weights, mlp_experiment


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    exp = mlp_experiment(epochs=2, batch_size=37)  # odd: the ranks get unequal shares of every batch
    exp["model"]["dropout"] = 0.0  # each rank draws its own dropout masks; compare the deterministic part
    exp["data"]["n_samples"] = 800
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    runs = {}
    for nproc in (1, 2):
        run_dir = tmp_path / f"np{nproc}"
        proc = subprocess.run([sys.executable, "-m", "forwardkit", "run", str(path), "--run-dir", str(run_dir),
                               "--nproc", str(nproc)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[nproc] = run_dir
    one, two = final_weights(runs[1]), final_weights(runs[2])
    steps = [json.loads((runs[n] / "summary.json").read_text())["steps"] for n in (1, 2)]
    assert steps[0] == steps[1] > 0
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5, rtol=1e-4), (key, (one[key] - two[key]).abs().max())
    # rank 0 alone wrote the run: one metrics log, no duplicated lines
    lines = (runs[2] / "metrics.jsonl").read_text().splitlines()
    train_steps = [json.loads(line)["step"] for line in lines if "train/loss" in line]
    assert train_steps == sorted(set(train_steps))
    # and the weights really moved away from the initial ones
    assert not torch.allclose(one["net.0.weight"], two["net.0.weight"] * 0)
    # a distributed run resumes (here: with a longer budget) from its last checkpoint
    more = subprocess.run([sys.executable, "-m", "forwardkit", "run", "--resume", str(runs[2]), "--nproc", "2",
                           "--set", "trainer.epochs=3"], capture_output=True, text=True, timeout=300)
    assert more.returncode == 0, more.stderr[-3000:]
    assert json.loads((runs[2] / "summary.json").read_text())["steps"] == steps[0] * 3 // 2
