"""Data-parallel runs: ``forwardkit run --nproc N`` spawns N processes; ``torchrun`` works too.

Each process trains the same model on its share of every global batch (``rank::world_size`` of the
batch's indices, see :func:`forwardkit.engine.data.epoch_batches`); DDP averages gradients, so N
processes reach the same weights as one process with the same global batch, up to float rounding.
Rank 0 alone logs and writes checkpoints. Backend: gloo on CPU, nccl on CUDA.
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
