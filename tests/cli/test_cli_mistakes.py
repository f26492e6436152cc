"""The friendlier edges of the command line: datasets bring their mode, options that would do
nothing are refused, unknown characters are placed, help explains itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from helpers import NAMES, assert_one_line_error, saurus, tiny_lines_model, tiny_stream_model

from saurus.data.datasets import DATASETS
from saurus.files import models
from saurus.files.model_file import load_model_file
from saurus.generation.novelty import name_hashes


@pytest.fixture(scope="module")
def lines_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("m") / "names.saurus"
    model = tiny_lines_model()
    model.seen = name_hashes(NAMES.split())
    models.save(model, path)
    return path


@pytest.fixture(scope="module")
def stream_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("m") / "text.saurus"
    models.save(tiny_stream_model(), path)
    return path


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--length", "20"), ("--length applies to stream models",)),
        (("--greedy", "--temperature", "0.5"), ("--greedy", "--temperature has no effect")),
        (("--greedy", "--top-k", "3"), ("--top-k has no effect",)),
        (("--temperature", "0"), ("--greedy",)),
        (("--seed", "-1"), ("--seed", "from 0 to 4294967295")),
        (("--top-p", "1.5"), ("--top-p",)),
        (("--max-len", "1000000000"), ("10000",)),
        (("--threads", "0"), ("--threads", "positive")),
        (("--bogus",), ("unrecognized arguments: --bogus", "saurus sample --help")),
    ],
)
def test_sample_refuses_options_that_do_nothing_or_are_out_of_range(
    lines_model: Path, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    assert_one_line_error(saurus("sample", lines_model, *args), *fragments)


@pytest.mark.parametrize("flag", [("--max-len", "5"), ("--novel",), ("--unique",)])
def test_stream_models_refuse_lines_options(stream_model: Path, flag: tuple[str, ...]) -> None:
    assert_one_line_error(saurus("sample", stream_model, *flag), flag[0], "lines models")


def test_n_on_a_stream_model_prints_n_independent_samples(stream_model: Path) -> None:
    result = saurus("sample", stream_model, "-n", "3", "--length", "30", "--seed", "4")
    assert result.returncode == 0, result.stderr
    samples = result.stdout.split("\n---\n")
    assert len(samples) == 3 and len(set(samples)) == 3
    assert all(len(s.rstrip("\n")) == 30 for s in samples)


def test_sampling_streams_its_output(lines_model: Path) -> None:
    """The first names arrive long before ten million are drawn."""
    with subprocess.Popen(
        [sys.executable, "-m", "saurus", "sample", str(lines_model), "-n", "10000000", "--seed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        first = [proc.stdout.readline() for _ in range(100)]
        proc.kill()
    assert all(line.strip() for line in first)


def test_train_unknown_option_points_to_train_help(tmp_path: Path) -> None:
    result = saurus("train", "dinos", "-o", tmp_path / "m.saurus", "--hiden", "3")
    assert_one_line_error(result, "--hiden", "saurus train --help")


def test_unknown_dataset_lists_the_known_ones(tmp_path: Path) -> None:
    result = saurus("train", "dinoz", "-o", tmp_path / "m.saurus")
    assert_one_line_error(result, "no such file or dataset: 'dinoz'", *DATASETS)


def test_too_few_examples_suggest_no_validation(tmp_path: Path) -> None:
    data = tmp_path / "one.txt"
    data.write_text("anna\n")
    result = saurus("train", data, "-o", tmp_path / "m.saurus")
    assert_one_line_error(result, "1 example is too few", "--val-fraction 0")


@pytest.mark.parametrize("command", ["train", "sample", "eval", "score", "reproduce"])
def test_help_explains_every_argument_and_ends_with_examples(command: str) -> None:
    result = saurus(command, "--help")
    assert result.returncode == 0
    text = result.stdout
    assert text.rstrip().splitlines()[-1].startswith("  saurus ")
    assert "examples:" in text
    positional = text.split("positional arguments:")[1].split("options:")[0]
    for line in positional.strip().splitlines():
        if line.startswith("  ") and not line.startswith("    "):
            name = line.split()[0]
            assert len(line.split()) > 1 or positional.count(name) > 1, f"{name} has no help"


def test_help_names_the_log_truthfully() -> None:
    help_text = " ".join(saurus("train", "--help").stdout.split())
    assert "OUTPUT.log.jsonl, e.g. dinos.saurus.log.jsonl" in help_text
    readme = (REPO / "README.md").read_text()
    assert "`dinos.saurus` logs to `dinos.saurus.log.jsonl`" in " ".join(readme.split())


# --- score and eval: unknown characters, stdin, datasets, overlap ---


def test_score_places_an_unknown_character(lines_model: Path) -> None:
    result = saurus("score", lines_model, "anna", "noë")
    assert_one_line_error(result, "string 2 ('noë'), column 3", "U+00EB", "--skip-unknown")


def test_score_skip_unknown_gives_minus_infinity_and_says_so(lines_model: Path) -> None:
    result = saurus("score", lines_model, "anna", "noë", "--skip-unknown")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.endswith("\tanna") and float(first.split("\t")[0]) < 0
    assert second == "-inf\tnoë"
    assert "1 of 2 names" in result.stderr


def test_score_reads_strings_from_stdin(lines_model: Path) -> None:
    env = {"PYTHONIOENCODING": "utf-8"}
    piped = subprocess.run(
        [sys.executable, "-m", "saurus", "score", str(lines_model), "-"],
        input="anna\n\nbob\n",
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **env},
        timeout=60,
    )
    direct = saurus("score", lines_model, "anna", "bob")
    assert piped.returncode == 0 and piped.stdout == direct.stdout


def test_eval_places_an_unknown_character_as_line_and_column(lines_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "held.txt"
    data.write_text("anna\nbob\ncl3o\n")
    assert_one_line_error(saurus("eval", lines_model, data), f"{data}:3:3", "'3'", "--skip-unknown")
    skipped = saurus("eval", lines_model, data, "--skip-unknown")
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped 1 of 3 names" in skipped.stderr
    # what is left is scored exactly as the file without the name
    clean = tmp_path / "clean.txt"
    clean.write_text("anna\nbob\n")
    assert saurus("eval", lines_model, clean).stdout.split(":")[1] == skipped.stdout.split(":")[1]


def test_eval_warns_when_the_text_was_in_the_training_data(lines_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "held.txt"
    data.write_text("anna\nbob\ndana\n")
    result = saurus("eval", lines_model, data)
    assert result.returncode == 0
    assert "warning: 2 of 3 names" in result.stderr and "trained from" in result.stderr
    fresh = tmp_path / "fresh.txt"
    fresh.write_text("dana\nelsa\n")
    assert "warning" not in saurus("eval", lines_model, fresh).stderr


def test_eval_swapped_arguments_say_not_a_model(tmp_path: Path, lines_model: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES)
    result = saurus("eval", data, lines_model)
    assert_one_line_error(result, "is not a saurus model file")
    assert "pickle" not in result.stderr


# --- registered datasets (the shared corpora) ---


def test_a_dataset_brings_its_mode(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.saurus"
    result = saurus(
        "train", "sonnets", "-o", out, "--iterations", "2", "--hidden", "8", "--seq-len", "16", "-q"
    )
    assert result.returncode == 0, result.stderr
    assert "characters" in result.stderr and "names" not in result.stderr
    assert load_model_file(out).meta["mode"] == "stream"


def test_the_zipped_dataset_trains(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "j.saurus"
    result = saurus("train", "jaychou", "-o", out, "--iterations", "1", "--hidden", "8", "-q")
    assert result.returncode == 0, result.stderr
    model = models.load(out)
    assert model.mode == "stream" and model.vocab.size > 1000


def test_eval_takes_a_dataset_name(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.saurus"
    assert saurus("train", "dinos", "-o", out, "--iterations", "5", "--hidden", "8", "-q").returncode == 0
    result = saurus("eval", out, "dinos")
    assert result.returncode == 0 and result.stdout.startswith("dinos: ")
    assert "warning: 1536 of 1536 names" in result.stderr


def test_threads_limit_blas(tmp_path: Path) -> None:
    code = (
        "import sys; from saurus.cli.main import run_with_threads; from threadpoolctl import threadpool_info;"
        "import argparse; ns = argparse.Namespace(threads=1, run=lambda a: print("
        "max(i['num_threads'] for i in threadpool_info())) or 0); run_with_threads(ns)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "1", result.stderr


def test_no_empty_names_reach_the_user(lines_model: Path) -> None:
    result = saurus("sample", lines_model, "-n", "2000", "--seed", "0")
    names = result.stdout.split("\n")[:-1]
    assert len(names) == 2000 and all(names)


def test_novel_names_are_new_and_distinct(lines_model: Path) -> None:
    result = saurus("sample", lines_model, "-n", "300", "--seed", "0", "--novel")
    names = result.stdout.split()
    assert len(names) == len(set(names)) and not set(names) & set(NAMES.split())
    assert np.all([n for n in names])


def test_a_classic_model_records_its_names_so_novel_works(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 2)
    out = tmp_path / "c.saurus"
    trained = saurus("train", data, "-o", out, "--model", "classic", "--iterations", "200", "-q")
    assert trained.returncode == 0, trained.stderr
    result = saurus("sample", out, "-n", "20", "--novel", "--seed", "0", "--temperature", "1.5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() and not set(result.stdout.split()) & set(NAMES.split())


def test_a_model_without_recorded_names_says_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "old.saurus"
    models.save(tiny_lines_model(), path)  # seen is empty, as in files from before
    result = saurus("sample", path, "--novel")
    assert_one_line_error(result, "does not record the names it was trained on")
    assert "train it again with this version" not in result.stderr


def test_the_package_promises_only_what_ships() -> None:
    """Music is promised now that it ships: the command, and the extra that it needs."""
    from importlib.metadata import metadata

    from saurus.cli.main import build_parser

    meta = metadata("saurus")
    assert "music" in meta["Summary"]
    assert "music" in meta.get_all("Provides-Extra")
    assert {"music", "reproduce"} <= set(build_parser().commands)


# --- found by trying it as a new user would ---


def test_an_unknown_option_is_named_before_a_missing_one() -> None:
    assert_one_line_error(saurus("train", "--tread", "1"), "unrecognized arguments: --tread")


def test_abbreviated_options_are_not_guessed(lines_model: Path) -> None:
    assert_one_line_error(saurus("sample", lines_model, "--temp", "0.5"), "--temp")


def test_score_stdin_is_bounded_and_must_be_utf8(lines_model: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        endless = subprocess.run(
            [sys.executable, "-m", "saurus", "score", str(lines_model), "-"],
            stdin=zero,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert_one_line_error(endless, "standard input holds more than 64.0 MiB")
    binary = subprocess.run(
        [sys.executable, "-m", "saurus", "score", str(lines_model), "-"],
        input=b"anna\n\xff\xfe\r\x01\n",
        capture_output=True,
        timeout=60,
    )
    assert binary.returncode == 2 and b"standard input is not UTF-8" in binary.stderr
    assert len(binary.stderr.strip().splitlines()) == 1


def test_a_tiny_top_p_keeps_the_likeliest_character(tmp_path: Path) -> None:
    """In float32, top_p * total underflowed to 0 and the last character was drawn."""
    from saurus.data.corpus import LinesCorpus
    from saurus.models.recurrent import CharModel

    model = CharModel.create(LinesCorpus.from_text(NAMES).vocab(), "lines", hidden=8, seed=3)
    path = tmp_path / "f32.saurus"
    models.save(model, path)
    tiny = saurus("sample", path, "-n", "3", "--top-p", "1e-300", "--seed", "0")
    greedy = saurus("sample", path, "-n", "3", "--greedy")
    assert tiny.returncode == 0 and tiny.stdout == greedy.stdout


def test_a_failed_overwrite_leaves_the_old_log_and_model(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    out = tmp_path / "m.saurus"
    assert saurus("train", data, "-o", out, "--iterations", "20", "--hidden", "8", "-q").returncode == 0
    log, state = tmp_path / "m.saurus.log.jsonl", tmp_path / "m.saurus.resume"
    before = out.read_bytes(), log.read_bytes(), state.read_bytes()
    diverged = saurus(
        "train", data, "-o", out, "--iterations", "20", "--hidden", "8", "--lr", "1e308", "--overwrite", "-q"
    )
    assert_one_line_error(diverged, "diverged")
    assert (out.read_bytes(), log.read_bytes(), state.read_bytes()) == before
    expected = ["m.saurus", "m.saurus.log.jsonl", "m.saurus.resume", "names.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected


def test_a_log_in_use_by_another_run_is_refused(tmp_path: Path) -> None:
    from saurus.files.locks import output_lock

    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    shared = tmp_path / "a.saurus.log.jsonl"
    with output_lock(shared):
        result = saurus("train", data, "-o", tmp_path / "b.saurus", "--log", shared, "--iterations", "5")
    assert_one_line_error(result, "being written by another saurus run")


def test_closed_stdout_is_one_line(lines_model: Path) -> None:
    result = subprocess.run(
        f'"{sys.executable}" -m saurus sample "{lines_model}" -n 5 >&-',
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_one_line_error(result, "standard output is closed")


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.2, 0.4])
def test_ctrl_c_while_starting_is_quiet(lines_model: Path, delay: float) -> None:
    import signal
    import time

    with subprocess.Popen(
        [sys.executable, "-m", "saurus", "sample", str(lines_model), "-n", "1000000000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # (else leaving the with block would wait for it for ever)
            proc.communicate()
            pytest.fail(f"the interrupt at {delay} s was lost: the command went on")
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err


def test_eval_with_the_model_second_says_it_comes_first(lines_model: Path) -> None:
    assert_one_line_error(saurus("eval", "dinos", lines_model), "the model comes first")


def test_one_skipped_character_is_singular(stream_model: Path) -> None:
    result = saurus("score", stream_model, "the cat§", "--skip-unknown")
    assert result.returncode == 0, result.stderr
    assert "skipped 1 character the model lacks" in result.stderr
