"""Training one network on several processes: ``torchrun --nproc-per-node N nsganet train ...``.

Under ``torchrun`` (``WORLD_SIZE`` > 1) every process runs the same command:
it joins the process group (NCCL on GPUs, gloo on CPUs), builds the same
network and the same batches, and trains its share of each global batch,
``batch[rank::world_size]``, in a ``DistributedDataParallel`` network that
averages the gradients. So a step of N processes is the step one process
makes on the whole batch (up to float rounding; batch norm is synchronised
across GPUs with ``SyncBatchNorm``, while on CPUs, where PyTorch has no
synchronised batch norm, each process normalises its own share). Rank 0
alone writes checkpoints, curves and the trained network; every rank reads a
checkpoint to resume.
"""

from __future__ import annotations

import atexit
import logging
import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nsganet.errors import NsganetError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a multi-process training run (a lone process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: torch.device | None = None) -> Distributed:
        """The run ``torchrun`` launched this process into (joining its process group), or a lone process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as dist

        rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            cuda = (device or torch.device("cpu")).type == "cuda"
            dist.init_process_group("nccl" if cuda else "gloo")
            atexit.register(_leave)
            logger.info("joined a %d-process %s group as rank %d", world, dist.get_backend(), rank)
        return cls(rank, world, local)

    def device(self, device: torch.device) -> torch.device:
        """The device of this rank: its own GPU (``cuda:LOCAL_RANK``) when training on GPUs."""
        if not self.active or device.type != "cuda":
            return device
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def wrap(self, model: nn.Module, device: torch.device, find_unused: bool = False) -> nn.Module:
        """``model`` as a ``DistributedDataParallel`` network (batch norm synchronised on GPUs); as is alone."""
        if not self.active:
            return model
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                                   find_unused_parameters=find_unused)

    def check_batch(self, batch_size: int) -> None:
        """A global batch must split evenly over the processes (each then averages an equal share)."""
        if self.active and batch_size % self.world_size:
            raise NsganetError(f"batch size {batch_size} does not split over {self.world_size} processes; give a "
                               f"multiple of {self.world_size}")

    def shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of a global batch."""
        if not self.active:
            return x, y
        return x[self.rank::self.world_size], y[self.rank::self.world_size]

    def no_sync(self, model: nn.Module, sync: bool) -> AbstractContextManager[Any]:
        """A backward pass that only accumulates gradients (``sync`` False), averaging them on the next one."""
        return nullcontext() if sync or not self.active else model.no_sync()

    def sum(self, *values: int | float) -> list[float]:
        """``values`` summed over the processes (as they are for a lone process)."""
        if not self.active:
            return [float(v) for v in values]
        import torch.distributed as dist

        total = torch.tensor([float(v) for v in values], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            total = total.cuda()
        dist.all_reduce(total)
        return total.tolist()

    def broadcast_buffers(self, *modules: nn.Module) -> None:
        """Give every process rank 0's buffers (batch-norm statistics, which each process updates on its share)."""
        if not self.active:
            return
        import torch.distributed as dist

        for module in modules:
            for buffer in unwrap(module).buffers():
                dist.broadcast(buffer, src=0)

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()


def _leave() -> None:
    """Leave the process group this process joined (at exit, so the launch ends cleanly)."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def main_process() -> bool:
    """Whether this process is rank 0 of its launch (a lone process is)."""
    return int(os.environ.get("RANK", "0")) == 0


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a ``DistributedDataParallel`` wrapper (the network itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
