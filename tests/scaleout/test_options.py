"""The scale-out options checked before anything starts: exit status 2 naming the option, no traceback."""

from __future__ import annotations

import pytest

from forwardkit.errors import ForwardkitError
from forwardkit.parallel import run_parallel, task_resources


@pytest.mark.parametrize(("args", "named", "says"), [
    (["run", "--set", "mixers=[identity]", "--address", "127.0.0.1:6379"], "--address", "--backend ray"),
    (["reproduce", "x", "--address", "127.0.0.1:6379"], "--address", "--backend ray"),
    (["run", "--nnodes", "2", "--node-rank", "2"], "--node-rank", "not below --nnodes 2"),
    (["run", "--nnodes", "2"], "--nnodes", "the bake-off"),
    (["run", "--master-port", "70000"], "--master-port", "70000"),
])
def test_bad_scaleout_options_exit_2_naming_the_option(cli_here, args, named, says):
    proc = cli_here(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert named in proc.stderr and says in proc.stderr and "Traceback" not in proc.stderr


def test_one_experiment_is_not_sent_to_ray(cli_here, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("model: {name: mlp}\ndata: {name: blobs}\n")
    proc = cli_here("run", str(path), "--backend", "ray")
    assert proc.returncode == 2 and "--backend" in proc.stderr and "--nnodes" in proc.stderr


def test_without_ray_the_option_says_how_to_install_it(cli_here, monkeypatch):
    import forwardkit.parallel_ray

    monkeypatch.setattr(forwardkit.parallel_ray, "ray_available", lambda: False)
    for args in (["run", "--backend", "ray"], ["reproduce", "x", "--backend", "ray"],
                 ["bench", "mixers", "--backend", "ray"]):
        proc = cli_here(*args)
        assert proc.returncode == 2 and 'pip install "forwardkit[ray]"' in proc.stderr, (args, proc.stderr)


def test_an_unreachable_cluster_is_a_clear_error_at_once():
    from forwardkit.engine.distributed import free_port

    with pytest.raises(ForwardkitError, match=r"cannot reach a Ray cluster at 127\.0\.0\.1:.*ray start --head"):
        run_parallel(abs, [(1,)], backend="ray", address=f"127.0.0.1:{free_port()}")
    with pytest.raises(ForwardkitError, match="expected HOST:PORT"):
        run_parallel(abs, [(1,)], backend="ray", address="head-node")
    with pytest.raises(ValueError, match="backend must be one of local, ray"):
        run_parallel(abs, [(1,)], backend="dask")


def test_each_run_asks_for_its_threads_and_a_gpu_on_cuda():
    assert task_resources(2) == {"num_cpus": 2}
    assert task_resources(0, "cuda:0") == {"num_cpus": 1, "num_gpus": 1}
