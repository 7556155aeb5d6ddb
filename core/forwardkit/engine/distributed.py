"""Data-parallel runs: ``forwardkit run --nproc N`` spawns N processes; ``torchrun`` works too, and so does
``forwardkit run --nnodes M --node-rank R --master-addr A --master-port P`` on each of M machines.

Each process trains the same model on its share of every global batch (``rank::world_size`` of the
batch's indices, see :func:`forwardkit.engine.data.epoch_batches`); DDP averages gradients, so N
processes reach the same weights as one process with the same global batch, up to float rounding.
Rank 0 alone logs and writes checkpoints. Backend: gloo on CPU, nccl on CUDA. Across machines the
processes are started by torch's own elastic launcher (what ``torchrun`` runs), with its static rendezvous
at the master's address: global rank ``node_rank * nproc + local_rank``, world ``nnodes * nproc``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist


def env_rank() -> tuple[int, int, int] | None:
    """(rank, world_size, local_rank) when started by torchrun or by :func:`launch`, else None."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    return None


def init_process_group(device: str) -> tuple[int, int]:
    """Join the process group described by the environment; returns (rank, world_size)."""
    found = env_rank()
    if found is None:
        return 0, 1
    rank, world, local_rank = found
    if world == 1:
        return 0, 1
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    return rank, world


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(local_rank: int, nproc: int, port: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    os.environ.update(
        RANK=str(local_rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )
    # share the cores: each process gets its own threads, no oversubscription
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    fn(*args)


def launch(nproc: int, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` in ``nproc`` processes on this machine (loopback rendezvous)."""
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(nproc, free_port(), fn, args), nprocs=nproc, join=True)


def _node_worker(fn: Callable[..., Any], nproc: int, args: tuple[Any, ...]) -> None:
    """One process of a multi-node run (RANK, WORLD_SIZE, MASTER_* are set by the elastic agent)."""
    from forwardkit.parallel import cpu_cores

    torch.set_num_threads(max(1, cpu_cores() // nproc))  # the node's cores, shared by its processes
    fn(*args)


def node_banner(*, nnodes: int, node_rank: int, nproc: int, master_addr: str, master_port: int,
                run_dir: str) -> str:
    """The line a node of a multi-node run prints before it waits for the others: its ranks, the
    rendezvous, and where the run is written (by node 0 alone)."""
    first, world = node_rank * nproc, nnodes * nproc
    ranks = f"rank {first}" if nproc == 1 else f"ranks {first}-{first + nproc - 1}"
    writes = f"writes the run to {run_dir}" if node_rank == 0 else "writes nothing (node 0 writes the run)"
    return (f"node {node_rank} of {nnodes}: {nproc} process{'es' if nproc > 1 else ''} ({ranks} of {world}), "
            f"rendezvous at {master_addr}:{master_port}; waits until every node has joined, then trains and "
            f"{writes}")


def launch_nodes(fn: Callable[..., Any], *args: Any, nnodes: int, node_rank: int, nproc: int = 1,
                 master_addr: str = "127.0.0.1", master_port: int = 29500) -> None:
    """Run ``fn(*args)`` in ``nproc`` processes on this node of an ``nnodes``-machine run, as
    ``torchrun --nnodes N --node-rank R --nproc-per-node P --master-addr A --master-port P`` does: torch's
    elastic launcher with the static rendezvous at ``master_addr:master_port``. Every node runs this with
    its own ``node_rank``; it returns when every process of every node has finished. A process that fails
    stops the run (no restarts); a diverged run (exit status 3) exits with 3 here too."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from forwardkit.errors import ForwardkitError

    config = LaunchConfig(min_nodes=nnodes, max_nodes=nnodes, nproc_per_node=nproc, run_id="forwardkit",
                          rdzv_backend="static", rdzv_endpoint=f"{master_addr}:{master_port}",
                          rdzv_configs={"rank": node_rank}, max_restarts=0, start_method="spawn")
    try:
        elastic_launch(config, _node_worker)(fn, nproc, args)
    except ChildFailedError as exc:
        codes = {f.exitcode for f in exc.failures.values()}
        if codes == {3}:
            raise SystemExit(3) from None
        lines = "; ".join(f"rank {rank}: exit code {f.exitcode} ({f.message or 'see its output above'})"
                          for rank, f in sorted(exc.failures.items()))
        raise ForwardkitError(f"node {node_rank} of {nnodes}: a training process failed: {lines}") from None
