"""Checking that a job fits in memory before allocating it.

An oversized request (`--hidden 100000`, a one-megabyte "name") must end in a message
that gives the number, not in a MemoryError or the kernel's OOM killer. The estimates
count the large arrays a training step holds:

    engine:  5 P (weights, gradients, two Adam moments, the best weights kept aside)
             + T B (L (3G + 4) H + 4 V) floats of forward caches and their gradients
             + N W 20 bytes of padded name batches
    classic: 6 P float64 (weights, gradients, Adagrad memory, best copy)
             + T (H + 3 V) float64 per example
with P parameters, T steps of a batch of B, L layers of H units with G gates, V characters,
N names padded to W.
"""

from __future__ import annotations

import os

from saurus.errors import OptionError


def available_bytes() -> int | None:
    """Memory the system can give without swapping (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human(n: float) -> str:
    """1536 -> '1.5 KiB'; beyond a thousand PiB, in powers of ten."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            if unit == "PiB" and n >= 1000:
                return f"{n:.1e} {unit}"
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def check_fits(needed: float, what: str, advice: str) -> None:
    """Raise OptionError when `needed` bytes exceed the memory available now."""
    free = available_bytes()
    if free is not None and needed > free:
        raise OptionError(
            f"{what} needs about {human(needed)} of memory, but {human(free)} is available; {advice}"
        )


def recurrent_bytes(
    *,
    params: int,
    itemsize: int,
    steps: int,
    batch: int,
    layers: int,
    hidden: int,
    gates: int,
    vocab: int,
    padded_names: int = 0,
) -> float:
    """Bytes one recurrent training step holds (see the module docstring)."""
    caches = steps * batch * (layers * (3 * gates + 4) * hidden + 4 * vocab)
    return itemsize * (5 * params + caches) + 20 * padded_names


def classic_bytes(*, hidden: int, vocab: int, steps: int) -> float:
    params = 2 * hidden * vocab + hidden * hidden + hidden + vocab
    return 8 * (6 * params + steps * (hidden + 3 * vocab))
