"""Data-parallel training under ``torchrun`` (``torch.distributed``, one process per
device; gloo on CPU, nccl on GPU).

:class:`~graphad.detectors.deep.DeepDetector` trains data-parallel whenever a process
group is initialised: every process samples mini-batches from its own share of the seed
nodes, the module is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`
(gradients averaged over the processes at every step, so every process holds the same
weights) and uneven shares end under DDP's ``join``. The CLI starts the group from the
environment ``torchrun`` sets::

    torchrun --nproc_per_node 2 -m graphad fit --schema s.yaml --out model

(``--nnodes N --rdzv-endpoint HOST:PORT`` on a cluster). Training takes mini-batches of
``batch_size`` seeds (default :data:`DEFAULT_BATCH_SIZE`); scoring is unchanged
(full-batch where the graph fits). Only rank 0 writes the model.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator, Tuple

import torch
from torch import Tensor, nn

DEFAULT_BATCH_SIZE = 2048


def active() -> bool:
    """Whether this process is one of several in an initialised process group."""
    return (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


def rank_and_world() -> Tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` outside a process group."""
    if not active():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def is_main_process() -> bool:
    return rank_and_world()[0] == 0


@contextlib.contextmanager
def process_group_from_env() -> Iterator[bool]:
    """Initialise the default process group from ``torchrun``'s environment
    (``WORLD_SIZE`` > 1) for the duration of the block and tear it down after; yields
    whether one is active. Nothing happens in a plain single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not torch.distributed.is_available() or \
            torch.distributed.is_initialized():
        yield active()
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group(backend=backend)
    try:
        yield True
    finally:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def seed_share(seeds: Tensor) -> Tensor:
    """This process's share of ``seeds`` (every world-size-th one, from its rank)."""
    rank, world = rank_and_world()
    return seeds[rank::world]


class _LossOf(nn.Module):
    """A module whose ``forward`` is a detector's batch loss, so that DDP sees the
    forward pass it synchronises."""

    def __init__(self, module: nn.Module, loss: Callable[..., Tensor]):
        super().__init__()
        self.module = module
        self._loss = loss

    def forward(self, batch, generator) -> Tensor:
        return self._loss(self.module, batch, generator)


def data_parallel(module: nn.Module, loss: Callable[..., Tensor],
                  device: torch.device) -> nn.Module:
    """``module`` behind DDP with ``loss(module, batch, generator)`` as its forward.
    ``find_unused_parameters``: a batch seeded on one node type leaves some relations'
    weights without a gradient."""
    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(_LossOf(module, loss), device_ids=ids,
                                               find_unused_parameters=True)


def mean_over_processes(value: float) -> float:
    """The mean of a float over the process group (itself outside one)."""
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t.item()) / torch.distributed.get_world_size()
