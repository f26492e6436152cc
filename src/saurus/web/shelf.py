"""The models a server offers: those named on the command line, then every trained job's
model, found when asked for (a job that ends is offered at once) and loaded once per
version of its file (a running job's best model is replaced as it improves)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from saurus.errors import SaurusError
from saurus.jobs.service import Jobs
from saurus.web.served import ServedModel, load_one


class ModelShelf(Mapping[str, ServedModel]):
    """`served` first (by id, in order), then the jobs' models, newest job last."""

    def __init__(self, served: Mapping[str, ServedModel], jobs: Jobs | None) -> None:
        self.served, self.jobs = dict(served), jobs
        self.loaded: dict[str, tuple[int, ServedModel]] = {}
        self.lock = threading.Lock()

    def job_models(self) -> dict[str, Path]:
        if self.jobs is None:
            return {}
        found = {}
        for job in reversed(self.jobs.all()):
            path = self.jobs.model_of(job)
            if path is not None and job.id not in self.served:
                found[job.id] = path
        return found

    def load(self, model_id: str, path: Path) -> ServedModel | None:
        """The model in `path`, loaded again only when the file changed; None when it cannot
        be read (a job's model that is not yet whole, or one that diverged)."""
        try:
            version = path.stat().st_mtime_ns
        except OSError:
            return None
        with self.lock:
            cached = self.loaded.get(model_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            model = load_one(model_id, path)
        except SaurusError:
            return None
        with self.lock:
            self.loaded[model_id] = (version, model)
        return model

    def __getitem__(self, model_id: str) -> ServedModel:
        if model_id in self.served:
            return self.served[model_id]
        path = self.job_models().get(model_id)
        model = None if path is None else self.load(model_id, path)
        if model is None:
            raise KeyError(model_id)
        return model

    def __contains__(self, model_id: object) -> bool:
        try:
            self[str(model_id)]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        yield from self.served
        for model_id, path in self.job_models().items():
            if self.load(model_id, path) is not None:
                yield model_id

    def __len__(self) -> int:
        return sum(1 for _ in self)
