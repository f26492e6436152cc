"""One writer per model file: `MODEL.lock` beside it, held with an exclusive flock.

The kernel drops a flock when its process ends, however it ends (kill -9 included), so a
lock file left behind by a dead run is stale by construction and the next run takes it
over. The file records who holds it (pid, host, start time) for the message a second run
prints. On systems without fcntl (Windows) no lock is taken.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from saurus.errors import SaurusError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class OutputLockedError(SaurusError):
    """Another live run is writing the same model file."""


def lock_path_for(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


def holder(path: Path) -> str:
    """Who holds the lock at `path`, as recorded in it."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        since = time.strftime("%H:%M:%S", time.localtime(float(info["started"])))
        return f"pid {int(info['pid'])} on {info['host']}, since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def acquire(output: Path) -> int | None:
    """Take the lock of `output`; returns its file descriptor (None without fcntl)."""
    if fcntl is None:  # pragma: no cover
        return None
    path = lock_path_for(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLockedError(
                f"{output} is being written by another saurus run ({holder(path)}); "
                "wait for it to finish or choose another -o"
            ) from None
        # the holder before us may have removed the file after we opened it: retry on the new one
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    try:  # who holds it is for the message of a second run; a full disk may deny it
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(record).encode())
    except OSError:
        pass
    return fd


def release(output: Path, fd: int | None) -> None:
    """Remove the lock file, then let go of the lock."""
    if fd is None:
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock_path_for(output))
    os.close(fd)


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold the lock of `output` for the duration of the block."""
    fd = acquire(output)
    try:
        yield
    finally:
        release(output, fd)
