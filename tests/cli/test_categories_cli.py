"""Names by category on the command line: `train` on a folder or a table, `sample
--category` (one, a blend), `score --category`, `eval` on labelled names, `classify`
(stdin, --top, unknown characters) and `info`; each mistake ends in one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_one_line_error, saurus, tiny_lines_model

from saurus.files import models

IRISH = ["kelly", "murphy", "walsh", "byrne", "ryan", "kane", "doyle", "boyle", "nolan", "reilly"]
ITALIAN = ["rossi", "russo", "ricci", "conti", "costa", "greco", "bruno", "gallo", "rinaldi", "mancini"]
TRAIN = ("--engine", "numpy", "--hidden", "24", "--iterations", "150", "--lr", "0.02", "--quiet")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A model trained on a folder of two categories (and one of a single name), and the folder."""
    root = tmp_path_factory.mktemp("labelled")
    data = root / "surnames"
    data.mkdir()
    (data / "Irish.txt").write_text("\n".join(IRISH * 3) + "\n")
    (data / "Italian.txt").write_text("\n".join(ITALIAN * 3) + "\n")
    (data / "Solo.txt").write_text("zyx\n")  # a category file with one name
    model = root / "s.saurus"
    result = saurus("train", data, "-o", model, *TRAIN)
    assert result.returncode == 0, result.stderr
    yield model, data


def test_info_lists_the_categories_with_their_training_names(labelled: tuple[Path, Path]) -> None:
    out = saurus("info", labelled[0]).stdout
    assert "categories: 3, with their training names: Irish (" in out and "Solo (1)" in out


def test_classify_prints_category_posterior_and_name(labelled: tuple[Path, Path]) -> None:
    result = saurus("classify", labelled[0], "kelly", "rossi", "--top", "2")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [r[0] for r in rows] == ["Irish", "Italian"] and [r[-1] for r in rows] == ["kelly", "rossi"]
    for row in rows:
        assert len(row) == 5 and float(row[1]) >= float(row[3]) and float(row[1]) + float(row[3]) <= 1 + 1e-6


def test_classify_reads_standard_input_and_marks_unknown_characters(
    labelled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    raw = io.TextIOWrapper(io.BytesIO(b"murphy\n\nq!q\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", raw)
    result = saurus("classify", labelled[0], "-", "--skip-unknown")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Irish\t") and lines[0].endswith("\tmurphy")
    assert lines[1] == "?\tnan\tq!q" and "classified ?" in result.stderr


def test_the_category_changes_what_is_sampled_and_scored(labelled: tuple[Path, Path]) -> None:
    model = labelled[0]
    irish = saurus("sample", model, "--category", "Irish", "-n", "200", "--seed", "1").stdout.split()
    italian = saurus("sample", model, "--category", "Italian", "-n", "200", "--seed", "1").stdout.split()
    assert sum(n.endswith("i") for n in italian) > 3 * max(1, sum(n.endswith("i") for n in irish))

    def score(category: str) -> float:
        return float(saurus("score", model, "rossi", "--category", category).stdout.split("\t")[0])

    assert score("Italian") > score("Irish")
    blend = saurus("sample", model, "--category", "Irish=0.5,Italian=0.5", "-n", "5", "--seed", "1")
    assert blend.returncode == 0 and len(blend.stdout.split()) == 5
    likely = saurus("sample", model, "--category", "Italian", "--most-likely", "3")
    assert likely.returncode == 0 and len(likely.stdout.splitlines()) == 3


def test_eval_scores_labelled_names_each_in_its_own_category(
    labelled: tuple[Path, Path], tmp_path: Path
) -> None:
    table = tmp_path / "held.tsv"
    table.write_text("kelly\tIrish\nrossi\tItalian\n")
    swapped = tmp_path / "swapped.tsv"
    swapped.write_text("kelly\tItalian\nrossi\tIrish\n")
    right, wrong = (saurus("eval", labelled[0], t) for t in (table, swapped))
    assert right.returncode == 0, right.stderr
    assert float(right.stdout.split()[1]) < float(wrong.stdout.split()[1])


@pytest.mark.parametrize(
    "args,fragments",
    [
        (("sample", "{m}", "--category", "Welsh"), ("unknown category 'Welsh'", "Irish, Italian, Solo")),
        (("sample", "{m}", "--category", "Irish=x"), ("is not LABEL=WEIGHT",)),
        (("sample", "{m}", "--category", "Irish=0"), ("sum to 0",)),
        (("classify", "{m}", "zoë"), ("'ë'", "--skip-unknown")),
        (("score", "{m}", "kelly", "--category", ""), ("--category is empty",)),
    ],
)
def test_category_mistakes_are_one_clear_line(
    labelled: tuple[Path, Path], args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    assert_one_line_error(saurus(*(a.format(m=labelled[0]) for a in args)), *fragments)


def test_a_model_without_categories_refuses_them(tmp_path: Path) -> None:
    lines_model = tmp_path / "plain.saurus"
    models.save(tiny_lines_model(), lines_model)
    assert_one_line_error(
        saurus("sample", lines_model, "--category", "Irish"), "not trained on labelled names"
    )
    assert_one_line_error(saurus("classify", lines_model, "anna"), "no categories")


@pytest.mark.parametrize(
    "extra,fragment",
    [(("--mode", "stream"), "lines mode"), (("--model", "classic"), "no categories")],
)
def test_labelled_data_refuses_what_cannot_take_categories(
    labelled: tuple[Path, Path], tmp_path: Path, extra: tuple[str, ...], fragment: str
) -> None:
    result = saurus("train", labelled[1], "-o", tmp_path / "x.saurus", *extra)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "x.saurus").exists()


def test_a_table_with_a_broken_row_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("anna,sv\nbo\n")
    assert_one_line_error(saurus("train", tmp_path / "t.csv", "-o", tmp_path / "m.saurus"), "line 2")
