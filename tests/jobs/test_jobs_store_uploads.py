"""The job records (SQLite) and the checks on uploaded data: no process is started here."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from pathlib import Path

import pytest

from saurus.jobs.runner import train_command
from saurus.jobs.service import JobError, JobLimits, JobRequest, checked_options, labelled_options
from saurus.jobs.store import JobRecord, JobStore
from saurus.jobs.uploads import UploadError, UploadLimits, shown_name, store_upload, table_suffix


def record(job_id: str, created: float, **changes: object) -> JobRecord:
    base = dict(
        id=job_id,
        created=created,
        owner="127.0.0.1",
        name="dinos",
        status="queued",
        source="dataset",
        data_name="dinos",
        data_path="dinos",
        data_chars=0,
        data_lines=0,
        options={"time_budget": 5.0, "mode": "auto"},
        folder=f"/tmp/jobs/{job_id}",
    )
    base.update(changes)
    return JobRecord(**base)  # type: ignore[arg-type]


def test_records_survive_a_new_store_and_keep_their_options(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    store.add(record("job-a", 1.0))
    again = JobStore(tmp_path).get("job-a")
    assert again == record("job-a", 1.0)
    assert again is not None and again.options == {"time_budget": 5.0, "mode": "auto"}
    assert JobStore(tmp_path).get("job-missing") is None


def test_the_queue_takes_the_oldest_first_and_marks_it_running_once(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    store.add(record("job-late", 2.0))
    store.add(record("job-early", 1.0))
    first = store.take_next()
    assert first is not None and first.id == "job-early"
    assert first.status == "running" and first.runs == 1 and first.started is not None
    second = store.take_next()
    assert second is not None and second.id == "job-late"
    assert store.take_next() is None
    assert [j.id for j in store.all()] == ["job-late", "job-early"]  # newest first


def test_an_unknown_state_is_refused(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    store.add(record("job-a", 1.0))
    with pytest.raises(ValueError, match="unknown job state"):
        store.update("job-a", status="exploded")
    assert store.get("job-a").status == "queued"  # type: ignore[union-attr]


def test_the_records_are_a_real_sqlite_database(tmp_path: Path) -> None:
    JobStore(tmp_path).add(record("job-a", 1.0))
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:
        assert db.execute("SELECT id, status FROM jobs").fetchall() == [("job-a", "queued")]


def test_the_command_line_of_a_job_and_of_its_resume() -> None:
    job = record("job-a", 1.0, options={"time_budget": 5.0, "engine": "numpy", "lowercase": True})
    command = train_command(job, "python")
    assert command[:8] == [
        "python",
        "-m",
        "saurus",
        "train",
        "dinos",
        "-o",
        "/tmp/jobs/job-a/model.saurus",
        "-q",
    ]
    assert command[8:] == ["--engine", "numpy", "--lowercase", "--time-budget", "5.0"]
    resumed = train_command(record("job-a", 1.0, resume=True, options={}), "python")
    assert resumed[-2:] == ["--resume", "/tmp/jobs/job-a/model.saurus"]


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\names.txt", "names.txt"),
        ("evil\x00name\n.txt", "evilname.txt"),
        ("", "upload.txt"),
        (None, "upload.txt"),
        ("/", "upload.txt"),
        ("a" * 500, "a" * 80),
    ],
)
def test_an_uploaded_name_is_only_shown_never_a_path(given: str | None, shown: str) -> None:
    assert shown_name(given) == shown


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("names.txt", b"a" * 5_000_000)
    return buffer.getvalue()


HOSTILE = [
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 415, "not UTF-8"),
    (zip_bomb(), 415, "not UTF-8|NUL"),
    (b"abc\x00def\n", 415, "NUL"),
    ("caf\xe9\n".encode("latin-1"), 415, "not UTF-8"),
    ("".join(chr(c) for c in range(1, 9)).encode() * 100, 415, "control characters"),
    (b"   \n\n", 400, "empty"),
    (b"", 400, "empty"),
    (b"x" * 65537, 413, "at most 64.0 KiB"),
    (b"a\n" * 101, 413, "lines"),
]


@pytest.mark.parametrize(("raw", "status", "said"), HOSTILE)
def test_a_hostile_upload_is_refused_and_leaves_no_file(
    tmp_path: Path, raw: bytes, status: int, said: str
) -> None:
    limits = UploadLimits(max_bytes=65536, max_chars=65536, max_lines=100, max_disk=1 << 20)
    with pytest.raises(UploadError, match=said) as caught:
        store_upload(raw, "names.txt", tmp_path, limits)
    assert caught.value.status == status
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.rglob("*"))  # nothing kept, not even a folder


def test_a_full_data_folder_refuses_an_upload_with_507(tmp_path: Path) -> None:
    (tmp_path / "old.bin").write_bytes(b"x" * 1000)
    with pytest.raises(UploadError, match="data folder holds") as caught:
        store_upload(b"rex\nnova\n" * 20, "names.txt", tmp_path, UploadLimits(max_disk=1100))
    assert caught.value.status == 507
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["old.bin"]


def test_an_accepted_upload_is_kept_under_a_name_saurus_chose(tmp_path: Path) -> None:
    upload = store_upload(b"rex\r\nnova\r\n\xef\xbb\xbf", "../../x/../names.txt", tmp_path, UploadLimits())
    assert upload.path.parent == tmp_path / "uploads"
    assert upload.path.name != "names.txt" and upload.path.suffix == ".txt"
    assert upload.path.read_bytes() == b"rex\nnova\n\xef\xbb\xbf"
    assert (upload.shown_name, upload.lines) == ("names.txt", 3)


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"time_budget": 0}, "time_budget"),
        ({"time_budget": 99999}, "time_budget"),
        ({"mode": "poetry"}, "mode"),
        ({"engine": "jax"}, "engine"),
        ({"model": "classic"}, "model"),
        ({"hidden": 0}, "hidden"),
        ({"hidden": True}, "hidden"),
        ({"iterations": 2.5}, "iterations"),
        ({"seed": -1}, "seed"),
    ],
)
def test_options_out_of_range_are_refused_naming_the_field(changes: dict[str, object], param: str) -> None:
    with pytest.raises(JobError) as caught:
        checked_options(JobRequest(dataset="dinos", **changes), JobLimits(max_budget=600))  # type: ignore[arg-type]
    assert caught.value.param == param and caught.value.status == 400


def test_options_left_out_are_planned_and_the_budget_defaults_to_a_minute() -> None:
    assert checked_options(JobRequest(dataset="dinos"), JobLimits()) == {
        "mode": "auto",
        "engine": "auto",
        "model": "lstm",
        "time_budget": 60.0,
        "lowercase": False,
    }
    with_steps = checked_options(JobRequest(dataset="dinos", iterations=50), JobLimits())
    assert "time_budget" not in with_steps and with_steps["iterations"] == 50


@pytest.mark.parametrize(
    ("filename", "labelled", "suffix"),
    [
        ("names.tsv", False, ".tsv"),
        ("NAMES.CSV", False, ".csv"),
        ("../x/names.csv", True, ".csv"),
        ("names.txt", True, ".tsv"),
        (None, True, ".tsv"),
        ("names.txt", False, None),
        ("names.tsv.txt", False, None),
    ],
)
def test_labelled_names_keep_their_table_suffix(
    filename: str | None, labelled: bool, suffix: str | None
) -> None:
    assert table_suffix(filename, labelled) == suffix


def test_a_table_is_kept_under_a_name_saurus_chose_with_its_suffix(tmp_path: Path) -> None:
    raw = b'name,label\nRossi,Italian\n"O\'Neill, Jr",Irish\n'
    upload = store_upload(raw, "../../my names.csv", tmp_path, UploadLimits())
    assert upload.path.parent == tmp_path / "uploads" and upload.path.suffix == ".csv"
    assert upload.path.name != "my names.csv" and upload.categories == 2
    assert upload.path.read_bytes() == raw
    lines = store_upload(b"Rossi\tItalian\n", "names.txt", tmp_path, UploadLimits(), labelled=True)
    assert lines.path.suffix == ".tsv" and lines.categories == 1
    plain = store_upload(b"Rossi\n", "names.txt", tmp_path, UploadLimits())
    assert plain.path.suffix == ".txt" and plain.categories == 0


@pytest.mark.parametrize(
    ("raw", "filename", "said"),
    [
        (
            b"Rossi,Italian\nKelly\n",
            "n.csv",
            "n.csv, line 2: expected a name and a label separated by a comma",
        ),
        (b"Rossi Italian\n", "n.tsv", "separated by a tab"),
        (b"name\tlabel\n", "n.tsv", "holds no names"),
        ("".join(f"n{i}\tl{i}\n" for i in range(1001)).encode(), "n.tsv", "distinct labels"),
        (b"caf\xe9,x\n", "n.csv", "not UTF-8"),
    ],
)
def test_a_broken_table_is_refused_and_leaves_no_file(
    tmp_path: Path, raw: bytes, filename: str, said: str
) -> None:
    with pytest.raises(UploadError, match=said) as caught:
        store_upload(raw, filename, tmp_path, UploadLimits())
    assert caught.value.status in (400, 415) and "\n" not in str(caught.value)
    assert not list(tmp_path.rglob("*"))


def test_labelled_is_an_option_of_an_upload_in_lines_mode() -> None:
    options = checked_options(JobRequest(upload=b"a\tb\n", filename="x.tsv"), JobLimits())
    assert labelled_options(JobRequest(upload=b"a\tb\n", filename="x.tsv"), options)["labelled"] is True
    assert labelled_options(JobRequest(upload=b"a\tb\n", labelled=True), options)["labelled"] is True
    assert "labelled" not in labelled_options(JobRequest(upload=b"a\n", filename="x.txt"), options)
    for req, param in (
        (JobRequest(dataset="dinos", labelled=True), "labelled"),
        (JobRequest(upload=b"a\tb\n", labelled="yes"), "labelled"),  # type: ignore[arg-type]
        (JobRequest(upload=b"a\tb\n", filename="x.csv", mode="stream"), "mode"),
    ):
        with pytest.raises(JobError) as caught:
            labelled_options(req, checked_options(req, JobLimits()))
        assert caught.value.param == param and caught.value.status == 400


def test_a_labelled_job_trains_with_labelled() -> None:
    job = record("job-a", 1.0, options={"labelled": True, "mode": "auto"})
    assert train_command(job, "python")[8:] == ["--labelled", "--mode", "auto"]
