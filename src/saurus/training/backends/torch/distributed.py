"""Training over several processes and machines, as torchrun starts them.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. Every rank builds the same batches from the
same seed, with --batch-size rows per rank (world * batch in all), and takes its own rows:
rank r trains on rows r, r + world, ... DistributedDataParallel averages the gradients, so
each rank's loss is scaled to make the update that of one process on the whole batch:

    loss_r = world * sum(nll of rank r's characters) / (characters in the whole batch)

Rank 0 alone evaluates, logs, prints and writes the model. Before every step it sends the
others (go, learning rate); go = 0 ends their loop when its run is over. NCCL on GPUs,
gloo on CPUs.

Ctrl-C (SIGINT to every process of the terminal) and SIGTERM: the other ranks ignore them,
and rank 0 acts on them only between steps, where every rank waits for its (go, lr). An
interrupt in the middle of a step would leave the others inside a gradient all-reduce that
rank 0 never joins.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist

from saurus.training.world import World


def start(world: World, device: torch.device) -> None:
    """Join the process group (once)."""
    if world.active and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def signal_step(world: World, go: bool, lr: float) -> tuple[bool, float]:
    """Rank 0 sends (go, lr); every rank returns what rank 0 sent."""
    message = torch.tensor([1.0 if go else 0.0, lr], dtype=torch.float64)
    dist.broadcast(message, src=0)
    return bool(message[0] > 0.5), float(message[1])


def finish(world: World, module: torch.nn.Module, steps: Iterator[Any]) -> bool:
    """Rank 0 tells the others the run is over; all compare their weights (True when every
    rank holds the same ones, as DistributedDataParallel promises) and leave the group.

    The training loop (and the DistributedDataParallel wrapper it holds) is closed and
    collected first: a process group that outlives destroy_process_group is torn down at
    interpreter exit, where gloo's threads abort the process ("terminate called without
    an active exception")."""
    if not world.active or not dist.is_initialized():
        return True
    if world.leader:
        signal_step(world, False, 0.0)
    close = getattr(steps, "close", None)
    if close is not None:
        close()
    gc.collect()
    weights = torch.cat([p.detach().reshape(-1).double().cpu() for p in module.parameters()])
    low, high = weights.clone(), weights.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.barrier()
    dist.destroy_process_group()
    gc.collect()
    return bool(torch.equal(low, high))
