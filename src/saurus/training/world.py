"""This process's place in a torchrun launch, read from its environment without torch.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE; a process started any
other way is rank 0 of a world of one. This is the one reader of those variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """The process's place in a torchrun launch (a single process when not launched so, or
    when the variables are not numbers)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1") or 1)
        rank = int(os.environ.get("RANK", "0") or 0)
        local = int(os.environ.get("LOCAL_RANK", "0") or 0)
        local_size = int(os.environ.get("LOCAL_WORLD_SIZE", "") or size)
    except ValueError:
        return World()
    return World(rank, size, local, local_size) if size > 1 else World()


def world_size() -> int:
    """How many processes train together (1 outside torchrun)."""
    return world_from_env().size


def launched_rank() -> int:
    """This process's rank when torchrun started several, else 0."""
    return world_from_env().rank
