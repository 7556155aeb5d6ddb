"""DDP across nodes: two `forwardkit run --nnodes 2` "nodes" on 127.0.0.1 reach the weights of one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from forwardkit.engine.distributed import free_port, node_banner

pytestmark = pytest.mark.slow


def experiment() -> dict:
    """A small MLP on blobs, without dropout (each rank draws its own masks); an odd global batch, so that
    the two ranks get unequal shares of every batch."""
    return {
        "name": "nodes", "data": {"name": "blobs", "n_samples": 400, "clusters_per_class": 2},
        "model": {"name": "mlp", "hidden": [32, 32], "dropout": 0.0},
        "learning_rule": {"name": "backprop", "lr": 0.01, "schedule": "cosine", "warmup_steps": 3},
        "trainer": {"epochs": 2, "batch_size": 37, "progress": "none", "log_every": 5}, "seed": 7,
    }


def weights(run_dir) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    latest = (run_dir / "checkpoints" / "latest").read_text().strip()
    return load_file(str(run_dir / "checkpoints" / latest / "model.safetensors"))


def test_two_nodes_on_loopback_reach_the_weights_of_one_process(tmp_path):
    from forwardkit.engine.trainer import fit

    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment()))
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen([sys.executable, "-m", "forwardkit", "run", str(path), "--run-dir",
                               str(tmp_path / f"node{rank}"), "--nnodes", "2", "--node-rank", str(rank),
                               "--master-addr", "127.0.0.1", "--master-port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for rank in (1, 0)]  # the worker may start first: it waits for the master
    one = fit(experiment(), run_dir=tmp_path / "one")  # meanwhile, the reference in this process
    try:
        outputs = [node.communicate(timeout=240) for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    for node, (out, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, (out + err)[-3000:]
    assert "node 1 of 2: 1 process (rank 1 of 2), rendezvous at 127.0.0.1:" in outputs[0][1]
    assert "node 0 of 2" in outputs[1][1] and "writes the run to" in outputs[1][1]
    assert not (tmp_path / "node1").exists()  # the other node wrote nothing: node 0 alone writes the run
    two = weights(tmp_path / "node0")
    ref = weights(tmp_path / "one")
    summary = json.loads((tmp_path / "node0" / "summary.json").read_text())
    assert summary["steps"] == one.steps > 0
    worst = max((ref[k] - two[k]).abs().max().item() for k in ref)
    assert worst < 1e-5, worst


def test_the_banner_names_the_ranks_and_who_writes():
    line = node_banner(nnodes=3, node_rank=2, nproc=4, master_addr="10.0.0.5", master_port=29500, run_dir="r")
    assert line.startswith("node 2 of 3: 4 processes (ranks 8-11 of 12), rendezvous at 10.0.0.5:29500")
    assert "node 0 writes the run" in line
    assert "writes the run to r" in node_banner(nnodes=2, node_rank=0, nproc=1, master_addr="h", master_port=1,
                                                  run_dir="r")
