"""Rebuild the pretrained models that ship in the package (src/saurus/pretrained/).

    python scripts/make_pretrained.py            # both, about 3 minutes on 2 cores
    python scripts/make_pretrained.py dinos

Each model is exactly the `saurus train` command below (fixed seeds, no time budget, so a
rerun on the same versions gives the same weights); its log and resume state are left out of the package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "saurus" / "pretrained"
COMMANDS = {
    # the embedded dinosaur list, with the defaults the README's quickstart uses
    "dinos": ["dinos", "--lowercase", "--seed", "0"],
    # tiny-shakespeare, a NumPy LSTM of 256 units for three epochs (about 2.9 MB)
    "shakespeare": ["tinyshakespeare", "--hidden", "256", "--epochs", "3", "--seed", "0"],
}


def build(name: str) -> None:
    out = OUT / f"{name}.saurus"
    log = OUT / f"{name}.saurus.log.jsonl"
    command = [sys.executable, "-m", "saurus", "train", *COMMANDS[name], "-o", str(out), "--overwrite"]
    print("$", " ".join(["saurus", "train", *COMMANDS[name], "-o", f"src/saurus/pretrained/{name}.saurus"]))
    subprocess.run(command, check=True)
    log.unlink(missing_ok=True)
    out.with_name(out.name + ".resume").unlink(missing_ok=True)  # the run's resume state stays out too
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size:,} bytes")


def main() -> int:
    for name in sys.argv[1:] or list(COMMANDS):
        if name not in COMMANDS:
            print(f"unknown model {name!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
            return 2
        build(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
