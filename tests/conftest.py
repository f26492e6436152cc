"""Shared fixtures: the real corpora in SAURUS_DATA_DIR (default ../shared/data).

Where the corpora cannot be found the tests that need them skip, except under CI=true,
where a missing corpus fails the run.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from saurus.data.datasets import DATA_DIR_ENV

REPO = Path(__file__).resolve().parents[1]

# A shell that starts a job in the background (`cmd &` without job control) starts it with
# SIGINT ignored, and children inherit that: the tests that press Ctrl-C on a child would
# wait for nothing. Handled here, the signal reaches every child as the default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


# --- tiers: markers by folder, and the long tier ---
# The README's command runs everything but `slow` (addopts in pyproject.toml); .ci/run then
# runs the long tier: `SAURUS_LONG_TESTS=1 SAURUS_FUZZ_SCALE=1 pytest -m "slow or scaled"`: the
# slow tests, and the scaled ones (fuzzing, the kills) at their full size.
FOLDER_MARKERS = {"torch": "torch", "web": "web", "music": "music"}
SLOW = {
    # benchmark scripts end to end (--quick): they import and time whole runs
    "test_benchmarks.py",
    # torchrun: several processes, each importing torch
    "test_torch_distributed.py",
    # a text of 64 MB and one of 8 MB read in bounded memory
    "test_large_input.py::test_a_large_file_trains_in_bounded_memory",
    "test_large_input.py::test_invalid_utf8_deep_in_a_large_file",
    # torch.compile pays a compile time up front
    "test_torch_engine.py::test_compile_trains_the_same_model_as_eager",
    # real servers killed and restarted under a running job (the library's own kill and
    # resume tests stay in the default run: tests/jobs)
    "test_web_jobs_server.py",
}
SCALED = {"test_kill.py::test_sigkill_at_random_moments_leaves_a_model_that_loads_and_a_run_that_resumes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve()
        folder = path.parent.name
        if folder in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[folder])
        if path.name in ("test_web_browser.py", "test_export_browser.py"):
            item.add_marker("browser")
        if path.name.startswith("test_fuzz_"):
            item.add_marker("fuzz")
            item.add_marker("scaled")
        name = item.nodeid.split("/")[-1].split("[")[0]
        if path.name in SLOW or name in SLOW:
            item.add_marker("slow")
        if name in SCALED:
            item.add_marker("scaled")
