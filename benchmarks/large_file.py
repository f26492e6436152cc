"""Benchmark training on large text files: peak resident memory and time of `saurus train`.

    python benchmarks/large_file.py                     # 100 MB and 1 GB (about 6 minutes on 2 cores)
    python benchmarks/large_file.py --before            # and the read-whole way (about 4 minutes more)
    python benchmarks/large_file.py --quick             # 20 MB, a few steps (a smoke test)

Each file is tiny-shakespeare repeated (from $SAURUS_DATA_DIR; made-up lines of words
where it is missing) up to the size, written to a temporary folder (--tmp, default
$TMPDIR) and deleted afterwards. Each run is `saurus train FILE --mode stream
--iterations N --eval-every M` (defaults 200 and 100, the default model for that much
text: an LSTM 1x512) in a child process, with --threads 1. Its peak resident memory is
the kernel's own count for that child (ru_maxrss from wait4); /proc/PID/status is polled
beside it for the peak of anonymous memory (RssAnon: what the process allocated) and of
file pages (RssFile: the memory-mapped ids and libraries, which the kernel can drop and
read again). `--before` also runs the way saurus read a file until stream mode read it in
chunks (read_text, then train_text on the str) for comparison. Prints one table: what,
file size, peak RSS, RssAnon, RssFile, time. Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saurus.data.datasets import data_dir
from saurus.resources import human

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
BEFORE = """
import sys
from saurus.data.corpus import read_text
from saurus.training.loop import TrainConfig, train_text
config = TrainConfig(mode="stream", iterations=int(sys.argv[2]), eval_every=int(sys.argv[3]))
result = train_text(read_text(sys.argv[1]), config)
print(f"trained on {result.train_examples} characters; validation {result.val}", file=sys.stderr)
"""


def size_of(text: str) -> int:
    """'100M' -> 104857600 (also K, G; a plain number is bytes)."""
    unit = UNITS.get(text[-1:].upper())
    return int(float(text[:-1]) * unit) if unit else int(text)


def seed_text() -> bytes:
    """A block to repeat: tiny-shakespeare where it is here, else made-up lines of words."""
    folder = data_dir()
    path = None if folder is None else folder / "tinyshakespeare.txt"
    if path is not None and path.is_file():
        return path.read_bytes()
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"etaoinshrdlucmfwypvbgkqjxz", dtype=np.uint8)
    lines = []
    for _ in range(40_000):
        words = [bytes(rng.choice(letters, size=rng.integers(1, 9))) for _ in range(rng.integers(3, 12))]
        lines.append(b" ".join(words).capitalize() + b".\n")
    return b"".join(lines)


def make_file(path: Path, size: int, block: bytes) -> None:
    with open(path, "wb") as f:
        left = size
        while left > 0:
            part = block[:left]
            f.write(part)
            left -= len(part)


@dataclass
class Peak:
    rss: int = 0  # bytes, from wait4
    anon: int = 0  # bytes, polled
    file: int = 0
    seconds: float = 0.0
    code: int = 0
    stderr: str = ""


def status_kib(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            return {
                line.split(":")[0]: int(line.split()[1])
                for line in f
                if line.startswith(("RssAnon:", "RssFile:", "VmHWM:"))
            }
    except (OSError, ValueError, IndexError):
        return {}


def measure(command: list[str], env: dict[str, str], errors: Path) -> Peak:
    """Run `command`, polling its memory every 50 ms; its own peak from wait4."""
    peak = Peak()
    with open(errors, "w", encoding="utf-8") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.05):
                now = status_kib(child.pid)
                peak.anon = max(peak.anon, now.get("RssAnon", 0) * 1024)
                peak.file = max(peak.file, now.get("RssFile", 0) * 1024)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        peak.seconds = time.perf_counter() - start
        done.set()
        watcher.join()
    peak.rss, peak.code = usage.ru_maxrss * 1024, child.returncode
    peak.stderr = errors.read_text(encoding="utf-8", errors="replace")
    return peak


def summary(stderr: str) -> str:
    """The validation figure of the run's last line, or why it failed."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if "validation" in line and "nats/char" in line:
            return line.split("validation ", 1)[1].split(",")[0]
    return lines[-1] if lines else "(no output)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100M,1G", help="file sizes, comma-separated (K, M, G)")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--before", action="store_true", help="also run the read-whole way, for comparison")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the files (default: $TMPDIR)")
    parser.add_argument("--quick", action="store_true", help="20 MB and 4 steps: a smoke test")
    parser.add_argument("--train", default="", help="more `saurus train` options, e.g. '--hidden 128'")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.iterations, args.eval_every = "20M", 4, 2
        args.train = args.train or "--hidden 32 --batch-size 8"
    sizes = [size_of(s) for s in args.sizes.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="saurus-large-", dir=args.tmp))
    free = shutil.disk_usage(folder).free
    if 2 * max(sizes) > free:  # the text and its ids
        shutil.rmtree(folder)
        need = human(2 * max(sizes))
        sys.exit(f"{folder.parent} has {human(free)} free; the largest file and its ids need {need}")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TMPDIR": str(folder), "PYTHONIOENCODING": "utf-8"}
    block = seed_text()
    rows = []
    try:
        for size in sizes:
            path = folder / f"text-{size}.txt"
            made = time.perf_counter()
            make_file(path, size, block)
            print(f"# wrote {path} ({human(size)}) in {time.perf_counter() - made:.1f} s", file=sys.stderr)
            steps = ["--iterations", str(args.iterations), "--eval-every", str(args.eval_every)]
            command = [sys.executable, "-m", "saurus", "train", str(path), "--mode", "stream", *steps]
            command += ["-o", str(folder / "model.saurus"), "--overwrite", "--threads", "1", "-q"]
            command += args.train.split()
            runs = [("saurus train --mode stream (chunks + memory map)", command)]
            if args.before:
                old = [sys.executable, "-c", BEFORE, str(path), str(args.iterations), str(args.eval_every)]
                runs.append(("read whole, then train_text (before)", old))
            for what, cmd in runs:
                peak = measure(cmd, env, folder / "stderr.txt")
                result = summary(peak.stderr) if peak.code == 0 else f"failed: {summary(peak.stderr)}"
                rows.append((what, size, peak, result))
                print(f"# {what}: {human(peak.rss)} peak, {peak.seconds:.1f} s; {result}", file=sys.stderr)
            path.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("| what | file size | peak RSS | peak RssAnon | peak RssFile | time (s) | result |")
    print("|---|---|---|---|---|---|---|")
    for what, size, peak, result in rows:
        print(
            f"| {what} | {human(size)} | {human(peak.rss)} | {human(peak.anon)} | {human(peak.file)} "
            f"| {peak.seconds:.1f} | {result} |"
        )


if __name__ == "__main__":
    main()
