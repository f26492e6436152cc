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

import contextlib
import gc
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from saurus.training.world import World


@dataclass
class Interrupts:
    """The signal that came during a step (rank 0), to be raised at the next step boundary."""

    came: int | None = None
    previous: dict[int, Any] | None = None

    def raise_pending(self) -> None:
        """Deliver the signal that came to the handler it had before: a KeyboardInterrupt
        for Ctrl-C, the command's own SIGTERM handling for SIGTERM. Later signals are only
        recorded until the block ends (torchrun's agent passes a Ctrl-C on once more)."""
        if self.came is not None:
            signum, self.came = self.came, None
            handler = (self.previous or {}).get(signum)
            if callable(handler):
                handler(signum, None)
            raise KeyboardInterrupt

    def restore(self) -> None:
        for signum, handler in (self.previous or {}).items():
            signal.signal(signum, handler)
        self.previous = None


@contextlib.contextmanager
def step_boundary_interrupts(world: World, pending: Interrupts) -> Iterator[Interrupts]:
    """Within the block (a whole run, its last collective included) rank 0 records SIGINT
    and SIGTERM (see raise_pending) and the other ranks ignore them; a single process is
    left as it is."""
    if not world.active:
        yield pending
        return

    def record(signum: int, frame: object) -> None:
        pending.came = signum

    try:
        pending.previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in pending.previous:
            signal.signal(s, record if world.leader else signal.SIG_IGN)
    except ValueError:  # not the main thread: signals stay as they are
        pending.previous = None
    try:
        yield pending
    finally:
        pending.restore()


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
