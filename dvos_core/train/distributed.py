"""Multi-GPU / multi-node set-up for `torchrun`: process group, rank info, metric reduction.

Launch with e.g. ``torchrun --nproc_per_node 4 -m dvos_core.cli train PROJECT ...`` (or
``--nnodes N --rdzv-endpoint HOST:PORT`` across nodes). ``WORLD_SIZE > 1`` in the environment switches DDP on:
NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    created: bool = False  # we initialised the process group (and must destroy it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device_name: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (or when one is already initialised)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), False)
    if env_world_size() <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    use_cuda = torch.cuda.is_available() and not str(device_name).startswith(("cpu", "mps"))
    backend = "nccl" if use_cuda else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, True)


def device_for(info: DistInfo, device: torch.device) -> torch.device:
    """One GPU per process under DDP."""
    if info.enabled and device.type == "cuda":
        return torch.device("cuda", info.local_rank)
    return device


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a list of floats over all ranks (no-op in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [float(v) for v in values]
    backend = dist.get_backend()
    dev = device if backend == "nccl" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is set on any rank (used to stop every rank when one is cancelled)."""
    return all_reduce_sum([1.0 if flag else 0.0], device)[0] > 0


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.created and dist.is_initialized():
        dist.destroy_process_group()
