"""Multi-GPU / multi-node training through ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N -m heatmark.cli train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK;
we join the process group (NCCL on CUDA, gloo on CPU), each rank takes its shard of every epoch
(``EpochSampler``) and DDP averages the gradients. Rank 0 validates, logs and saves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether ``flag`` is set on any rank (so all ranks stop at the same step)."""
        if not self.enabled:
            return flag
        value = torch.tensor([float(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())


def init_distributed(device_kind: str) -> DistributedContext:
    """Join the process group when launched by torchrun; a no-op context otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    if device_kind == "cuda":
        torch.cuda.set_device(local_rank)
    return DistributedContext(rank, world, local_rank)


def shutdown_distributed(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
