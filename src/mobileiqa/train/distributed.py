"""Scale-out with ``torchrun``: the same entry points run as N processes with DistributedDataParallel.

``torchrun --nproc-per-node=N -m mobileiqa train-teacher ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; the process
group uses NCCL on GPUs and gloo on CPU. Each rank trains on its shard of every epoch's batches, epoch loss
means are averaged across ranks, validation runs on every rank with the synchronised weights (so all ranks see
the same metrics), and only rank 0 logs and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> Dist:
    return Dist(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)))


def init(device: torch.device) -> Dist:
    """Join the process group when launched by torchrun (no-op for a single process)."""
    d = from_env()
    if d.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return d


def device_for(d: Dist, device: torch.device) -> torch.device:
    if d.enabled and device.type == "cuda":
        torch.cuda.set_device(d.local_rank)
        return torch.device("cuda", d.local_rank)
    return device


def wrap(module: torch.nn.Module, d: Dist, device: torch.device) -> torch.nn.Module:
    if not d.enabled:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def is_main_process() -> bool:
    """True outside torchrun and on rank 0."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def mean_across_ranks(values: dict[str, float]) -> dict[str, float]:
    if not (dist.is_available() and dist.is_initialized()) or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / dist.get_world_size() for k, v in zip(keys, t.tolist(), strict=True)}


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
