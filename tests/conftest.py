"""Shared fixtures: the real corpora in SAURUS_DATA_DIR (default ../shared/data).

Where the corpora cannot be found the tests that need them skip, except under CI=true,
where a missing corpus fails the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from saurus.data.datasets import DATA_DIR_ENV

REPO = Path(__file__).resolve().parents[1]


def find_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).resolve() if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = find_data_dir()
    if not path.is_dir():
        message = f"the shared corpora are not at {path}; set {DATA_DIR_ENV} to their folder"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def dinos_path(data_dir: Path) -> Path:
    path = data_dir / "dinos.txt"
    if not path.is_file():
        pytest.fail(f"{path} is missing from the data folder")
    return path
