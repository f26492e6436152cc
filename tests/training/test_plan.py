"""The planner (training/plan.py): its rules, the same plan for the same inputs, the user's
options winning, the budget kept (asserted on the run's own recorded timings), the seeded
validation sample, --plan and --mode auto."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from saurus.cli.main import main
from saurus.data.corpus import LinesCorpus, StreamCorpus
from saurus.data.mode_detect import detect_mode
from saurus.training.calibrate import sample_corpus
from saurus.training.config import TrainConfig
from saurus.training.loop import train_text
from saurus.training.plan import (
    DEFAULT_BUDGET,
    MAX_PASSES,
    Q_PARAMS_PER_CHAR,
    R_CHARS_PER_PARAM,
    CorpusStats,
    Plan,
    Throughput,
    dropout_for,
    lr_for,
    needs_measuring,
    params_of,
    plan_run,
)
from saurus.training.resume import load_run

NAMES = CorpusStats("lines", 185_000, 29_000, 5.4, 15, 27, 20_000)
DINOS = CorpusStats("lines", 19_000, 1_380, 12.0, 26, 27, 2_000)
TEXT = CorpusStats("stream", 1_000_000, 1, 1e6, 10**6, 65, 111_000)
HUGE_LIST = CorpusStats("lines", 48_000_000, 3_600_000, 12.0, 30, 46, 5_400_000)
SPEED = Throughput(a=6e-6, b=5e-11, eval_ratio=3.0, seconds=0.5)


def numpy_config(**options: object) -> TrainConfig:
    return TrainConfig(engine="numpy", **options).resolved()  # type: ignore[arg-type]


def test_the_same_inputs_and_calibration_give_the_same_plan() -> None:
    config = numpy_config(time_budget=60)
    first = plan_run(config, TEXT, SPEED, spent=1.5)
    again = plan_run(config, TEXT, SPEED, spent=1.5)
    assert first.to_json() == again.to_json() and first.config == again.config


def test_the_size_follows_the_rules() -> None:
    """The largest size that reads R characters a parameter and has at most Q parameters a
    training character; the next size up breaks one of the two."""
    config = numpy_config(time_budget=60)
    plan = plan_run(config, TEXT, SPEED, spent=1.0)
    hidden, seconds = plan.config.hidden, plan.figures["train_seconds"]
    assert hidden is not None

    def reads(h: int) -> float:
        cfg = replace(plan.config, hidden=h)
        from saurus.training.plan import work_per_char

        return seconds * SPEED.chars_per_second(work_per_char(cfg, h, TEXT.vocab))

    assert reads(hidden) >= R_CHARS_PER_PARAM * params_of(plan.config, hidden, TEXT.vocab)
    bigger = hidden + 64
    assert reads(bigger) < R_CHARS_PER_PARAM * params_of(plan.config, bigger, TEXT.vocab)


def test_more_time_or_a_faster_machine_plans_a_larger_model() -> None:
    sizes = [plan_run(numpy_config(time_budget=b), TEXT, SPEED).config.hidden for b in (10, 60, 300, 3600)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    faster = replace(SPEED, a=SPEED.a / 4, b=SPEED.b / 4)
    slow = plan_run(numpy_config(time_budget=60), TEXT, SPEED).config.hidden
    fast = plan_run(numpy_config(time_budget=60), TEXT, faster).config.hidden
    assert fast is not None and slow is not None and fast > slow


def test_little_data_bounds_the_size_and_brings_dropout_and_a_pass_limit() -> None:
    plan = plan_run(numpy_config(time_budget=300), DINOS, SPEED)
    cfg = plan.config
    assert cfg.hidden is not None
    assert params_of(cfg, cfg.hidden, DINOS.vocab) <= Q_PARAMS_PER_CHAR * DINOS.chars
    assert cfg.dropout == 0.41 == dropout_for(MAX_PASSES)
    assert cfg.epochs == MAX_PASSES and cfg.weight_decay == 0.01 and cfg.optimizer == "adamw"


def test_less_than_one_pass_has_no_regularising_and_reads_a_sample_of_a_huge_list() -> None:
    plan = plan_run(numpy_config(time_budget=60), HUGE_LIST, SPEED)
    assert plan.figures["passes"] < 1
    assert plan.config.dropout == 0.0 and plan.config.weight_decay == 0.0 and plan.config.epochs is None
    assert plan.train_chars is not None and plan.train_chars < HUGE_LIST.chars
    assert any("sample" in r for r in plan.reasons)
    assert plan.val_chars is not None and plan.final_val_chars is not None  # 5.4M would not fit


def test_what_the_user_gives_wins_and_the_rest_is_planned_around_it() -> None:
    plan = plan_run(numpy_config(time_budget=10, hidden=1024), NAMES, SPEED)
    assert plan.config.hidden == 1024 and plan.config.lr == lr_for(plan.config, 1024)
    assert plan.config.batch_size == 64
    given = plan_run(
        numpy_config(time_budget=10, hidden=1024, lr=0.5, dropout=0.2, batch_size=7), NAMES, SPEED
    )
    assert (given.config.lr, given.config.dropout, given.config.batch_size) == (0.5, 0.2, 7)
    no_decay = plan_run(numpy_config(time_budget=300, optimizer="adam"), DINOS, SPEED)
    assert no_decay.config.optimizer == "adam" and no_decay.config.weight_decay == 0.0


def test_a_run_bounded_by_steps_is_planned_without_measuring() -> None:
    config = numpy_config(iterations=50)
    assert not needs_measuring(config) and needs_measuring(numpy_config(time_budget=5))
    plan = plan_run(config, NAMES, None)
    assert plan.config.hidden == 64 and plan.eval_seconds is None and plan.budget is None


def test_no_limit_plans_the_default_budget_and_says_so() -> None:
    plan = plan_run(numpy_config(), TEXT, SPEED)
    assert plan.budget == DEFAULT_BUDGET and plan.default_budget and plan.config.time_budget == DEFAULT_BUDGET
    assert f"planned for {DEFAULT_BUDGET:g} s" in plan.lines()[1]


def test_the_evaluations_sample_costs_a_bounded_share() -> None:
    plan = plan_run(numpy_config(time_budget=20), HUGE_LIST, SPEED)
    assert plan.val_chars is not None and plan.eval_seconds is not None
    from saurus.training.plan import EVAL_SHARE, EVALS, work_per_char

    per_second = SPEED.eval_ratio * SPEED.chars_per_second(
        work_per_char(plan.config, plan.config.hidden or 0, HUGE_LIST.vocab)
    )
    assert plan.val_chars / per_second <= 1.01 * 20 * EVAL_SHARE / EVALS


def test_a_plan_round_trips_through_json() -> None:
    plan = plan_run(numpy_config(time_budget=60), HUGE_LIST, SPEED, spent=2.0)
    back = Plan.from_json(plan.config, plan.to_json())
    assert back.to_json() == plan.to_json()


def random_names(count: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 12, size=count)
    return "\n".join("".join(rng.choice(letters, size=n)) for n in lengths) + "\n"


def test_the_budget_holds_on_a_large_list_by_the_runs_own_clock() -> None:
    """60,000 names, a 3 s budget: the whole run, the evaluations and the final figure on a
    sample included, ends within the budget plus 2 s (the slack for short budgets), and the
    evaluations take a small share of it, by the run's own recorded timings."""
    text = random_names(60_000)
    budget = 3.0
    result = train_text(text, TrainConfig(engine="numpy", time_budget=budget))
    timings = result.timings
    in_loop = timings["total"] - timings["before_training"]  # (a stall before it is the machine's)
    assert in_loop <= budget + 2.0, timings
    assert result.stopped_by in ("time budget", "epochs", "early stopping")
    assert timings["evaluations"] + timings["final_evaluation"] <= 0.35 * budget, timings
    assert any(p.evaluated for p in result.history)  # (how many depends on the speed: not asserted)


def test_the_validation_sample_is_seeded_and_the_same_across_a_resume(tmp_path: Path) -> None:
    val = LinesCorpus.from_text(random_names(5_000, seed=1))
    assert sample_corpus(val, 3_000, 42) == sample_corpus(val, 3_000, 42)
    assert sample_corpus(val, 3_000, 42) != sample_corpus(val, 3_000, 43)
    text = StreamCorpus.from_text("the quick brown fox jumps over the lazy dog. " * 400)
    assert sample_corpus(text, 1000, 0) == sample_corpus(text, 1000, 0)

    data = random_names(40_000, seed=2)
    model = tmp_path / "m.saurus"
    config = TrainConfig(engine="numpy", time_budget=2.0, hidden=32)
    first = train_text(data, config, checkpoint=model)
    assert first.plan is not None and first.plan.val_chars is not None
    saved = load_run(model).plan
    assert saved is not None and saved["val_chars"] == first.plan.val_chars
    resumed = train_text(data, replace(config, time_budget=4.0), checkpoint=model, resume=model)
    assert resumed.plan is not None
    assert (resumed.plan.val_chars, resumed.plan.eval_seconds) == (
        first.plan.val_chars,
        first.plan.eval_seconds,
    )
    assert resumed.config.hidden == 32 and resumed.iterations_done > first.iterations_done


def test_plan_prints_the_plan_and_trains_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "names.txt"
    data.write_text(random_names(2_000))
    out = tmp_path / "m.saurus"
    assert (
        main(["train", str(data), "-o", str(out), "--engine", "numpy", "--time-budget", "5", "--plan"]) == 0
    )
    printed = capsys.readouterr().out
    assert printed.startswith("mode: lines (2,000 lines") and "\nplan: lstm 1 x" in printed
    assert "throughput" in printed and "passes" in printed
    assert not out.exists() and list(tmp_path.iterdir()) == [data]


def test_the_model_file_records_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from saurus.files.models import load_with_meta

    data = tmp_path / "names.txt"
    data.write_text(random_names(500))
    out = tmp_path / "m.saurus"
    assert main(["train", str(data), "-o", str(out), "--engine", "numpy", "--iterations", "20", "-q"]) == 0
    plan = load_with_meta(out)[1]["training"]["plan"]
    assert plan["settings"]["hidden"] == 64 and plan["reasons"]
    assert main(["info", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "plan: lstm 1 x 64" in shown and "iterations: 20" in shown


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("anna\nbob\ncleo\ndave\neve\n", "lines"),
        # a list with a few long lines is still a list
        ("\n".join([f"name{i}" for i in range(50)] + ["a much longer line of several words " * 3]), "lines"),
        # a poem of short lines is running text: several words a line
        ("the cat sat on the mat\nand then it sat on me\nthe end came soon\n" * 3, "stream"),
        ("one single line of running text with no line breaks at all", "stream"),
        # Chinese writes no spaces: names are a list, lines of verse running text
        ("王芳\n李娜\n张伟\n刘洋\n", "lines"),
        ("床前明月光\n疑是地上霜\n举头望明月\n低头思故乡\n", "stream"),
    ],
)
def test_the_mode_is_found_from_the_text(text: str, mode: str) -> None:
    found, why = detect_mode(text)
    assert found == mode and why


def test_the_mode_of_the_tuning_corpora(data_dir: Path) -> None:
    expected = {
        "dinos.txt": "lines",
        "names.txt": "lines",
        "sonnets.txt": "stream",
        "tinyshakespeare.txt": "stream",
    }
    for name, mode in expected.items():
        assert detect_mode((data_dir / name).read_text(encoding="utf-8"))[0] == mode, name


def test_train_says_which_mode_it_found(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "poem.txt"
    data.write_text("shall i compare thee to a summer's day\nthou art more lovely and more temperate\n" * 20)
    out = tmp_path / "p.saurus"
    assert main(["train", str(data), "-o", str(out), "--engine", "numpy", "--iterations", "5"]) == 0
    err = capsys.readouterr().err
    assert "mode: stream (" in err and "running text" in err
    assert math.isfinite(float(err.split("validation ")[1].split()[0]))


def test_dropout_and_decay_start_past_three_passes() -> None:
    assert [dropout_for(e) for e in (0.5, 1, 2, 3)] == [0.0, 0.0, 0.0, 0.0]
    assert dropout_for(6) == 0.15 and dropout_for(11) == 0.28 and dropout_for(20) == 0.41
    assert dropout_for(10_000) == 0.5
