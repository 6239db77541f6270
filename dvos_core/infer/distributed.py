"""Sharding prediction over several processes started by ``torchrun`` (one GPU each)."""

from __future__ import annotations

import os


def world() -> tuple[int, int]:
    """(rank, world_size) of this process; (0, 1) unless launched by torchrun with WORLD_SIZE > 1.

    The default process group is initialised on first use (NCCL with CUDA, gloo otherwise) and each rank picks
    ``cuda:LOCAL_RANK``.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def rank_device(device):
    """On a multi-process CUDA run, 'auto'/'cuda' become this rank's own GPU."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1 and str(device) in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def shard(items: list, rank: int, size: int) -> list:
    """The rank's contiguous share of ``items`` (contiguous keeps the sliding-window cache effective)."""
    n = len(items)
    lo, hi = (n * rank) // size, (n * (rank + 1)) // size
    return items[lo:hi]


def gather_lists(local: list, size: int) -> list:
    """Concatenate every rank's list (all ranks get the result)."""
    if size <= 1:
        return list(local)
    import torch.distributed as dist

    parts = [None] * size
    dist.all_gather_object(parts, list(local))
    return [x for p in parts for x in p]


def barrier(size: int) -> None:
    if size > 1:
        import torch.distributed as dist

        dist.barrier()
