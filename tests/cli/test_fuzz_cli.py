"""Every numeric option of every command, fuzzed: NaN, infinities, -0, 1e309, huge and
negative integers, empty strings, whitespace, Unicode digits and random text. The parser
either takes a value (a finite number in the option's range, the very number Python reads
from the text) or ends with exit status 2 and one line on stderr; the commands run with
extreme values that the parser takes end in a result or in one line and status 2, never
a traceback or a hang. The options are read from saurus.cli.main.build_parser(), so a new
option is fuzzed as soon as it exists (and fails here until it has a rule below).

Examples come from a fixed seed; the default run tries a quarter of the long tier's
(SAURUS_FUZZ_SCALE=1), and SAURUS_FUZZ_SCALE=20 twenty times as many.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import NAMES, Hang, tiny_lines_model, tiny_stream_model, wall_limit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saurus.cli import args as cli
from saurus.cli.main import build_parser, main
from saurus.cli.music import tempo_value
from saurus.cli.music_frames import MAX_TRANSPOSE, transpose_value
from saurus.cli.serve import (
    MAX_JOB_SLOTS,
    MAX_PORT,
    budget_value,
    count_value,
    jobs_value,
    mib_value,
    nice_value,
    parallel_value,
    port_value,
    queued_value,
    timeout_value,
)
from saurus.files import models
from saurus.training.config import MAX_SEED
from saurus.web.limits import MAX_PARALLEL, MAX_TIMEOUT

SCALE = float(os.environ.get("SAURUS_FUZZ_SCALE", "0.25"))  # the long tier: 1
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir(), "saurus-hypothesis")))
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=max(1, round(400 * SCALE)),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=False,
)


@dataclass(frozen=True)
class Rule:
    """What an option takes: whole numbers or real ones, in a range."""

    kind: type  # int or float
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return math.isfinite(value) and above and below

    def expected(self, text: str) -> int | float | None:
        """The value the option must take from `text`, or None where it must refuse."""
        try:
            value = self.kind(text)
        except (ValueError, OverflowError):
            return None
        return value if self.admits(value) else None


INF = math.inf
RULES: dict[Callable[[str], object], Rule] = {
    cli.positive_int: Rule(int, 1, INF),
    cli.thread_count: Rule(int, 1, cli.MAX_THREADS),
    cli.int_value: Rule(int, -INF, INF),
    cli.seed_value: Rule(int, 0, MAX_SEED),
    cli.positive_float: Rule(float, 0, INF, low_open=True),
    cli.temperature_value: Rule(float, 0, INF, low_open=True),
    cli.non_negative_float: Rule(float, 0, INF),
    cli.fraction: Rule(float, 0, 1, high_open=True),
    tempo_value: Rule(float, 20, 400),
    transpose_value: Rule(int, 0, MAX_TRANSPOSE),
    port_value: Rule(int, 0, MAX_PORT),
    timeout_value: Rule(float, 0, MAX_TIMEOUT, low_open=True),
    parallel_value: Rule(int, 1, MAX_PARALLEL),
    jobs_value: Rule(int, 1, MAX_JOB_SLOTS),
    queued_value: Rule(int, 0, 10_000),
    nice_value: Rule(int, 0, 19),
    mib_value: Rule(int, 1, 1 << 20),
    count_value: Rule(int, 1, 1 << 40),
    budget_value: Rule(float, 0, 7 * 24 * 3600, low_open=True),
}
# options whose parser is a lambda, by command and flag
LAMBDA_RULES = {
    "--top-p": Rule(float, 0, 1, low_open=True),
    "--names": Rule(int, 1, cli.MAX_REPORT_NAMES),
    "complete --temperature": Rule(float, 0, INF),
}


@dataclass(frozen=True)
class Option:
    command: tuple[str, ...]
    flag: str
    dest: str
    rule: Rule
    base: tuple[str, ...]  # the command with its required arguments

    def __str__(self) -> str:
        return f"saurus {' '.join(self.command)} {self.flag}"


def required_arguments(parser: argparse.ArgumentParser) -> list[str]:
    """Arguments that make a command line complete: positionals, required options, and for
    a command of commands (reproduce, music) its first command's."""
    args = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name, child = next(iter(action.choices.items()))
            args += [name, *required_arguments(child)]
        elif not action.option_strings:
            args.append("x")  # any positional: parsing does not look at files
        elif action.required:
            args += [action.option_strings[0], "out.x"]
    return args


def numeric_options() -> tuple[list[Option], list[str]]:
    """The numeric options with their rules, and the options that have no rule here."""
    found, unknown = [], []

    def walk(parser: argparse.ArgumentParser, command: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, (*command, name))
            elif action.option_strings and callable(action.type) and action.type not in (Path, str):
                flag = max(action.option_strings, key=len)
                rule = RULES.get(action.type) or LAMBDA_RULES.get(f"{command[0]} {flag}")
                rule = rule or LAMBDA_RULES.get(flag)
                if rule is None:
                    unknown.append(f"saurus {' '.join(command)} {flag}")
                    continue
                base = (*command, *required_arguments(parser))
                found.append(Option(command, flag, action.dest, rule, base))

    walk(build_parser(), ())
    return found, unknown


OPTIONS, UNRULED = numeric_options()


def test_every_numeric_option_has_a_rule() -> None:
    assert not UNRULED, f"add a Rule for the parser of: {', '.join(UNRULED)}"


def test_every_command_has_its_numeric_options_found() -> None:
    flags = {str(o) for o in OPTIONS}
    for wanted in (
        "saurus train --hidden",
        "saurus train --lr",
        "saurus train --val-fraction",
        "saurus sample --temperature",
        "saurus sample --top-p",
        "saurus score --threads",
        "saurus reproduce dinos --names",
        "saurus reproduce minchar --lr",
        "saurus music sample --tempo",
        "saurus music train --epochs",
        "saurus complete --temperature",
        "saurus serve --port",
        "saurus plot --threads",
    ):
        assert wanted in flags
    assert len(OPTIONS) > 100


# --- parsing ---------------------------------------------------------------------------------

HOSTILE = [
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "Infinity",
    "-Infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "5e-324",
    "1e308",
    "0",
    "-0",
    "+0",
    "-0.0",
    "0.0",
    "-1",
    "-1e-300",
    "1",
    "0.5",
    "1.5",
    "2",
    "20",
    "400",
    "65535",
    "65536",
    str(MAX_SEED),
    str(MAX_SEED + 1),
    str(2**63),
    str(2**64 + 1),
    str(10**30),
    str(-(10**30)),
    "9" * 5000,
    "1e5",
    "0x10",
    "1_000",
    "",
    " ",
    "\t",
    "\n",
    " 7 ",
    "١٢",  # Arabic-Indic digits: Python reads 12
    "１２",  # fullwidth digits
    "²",
    "½",
    "−1",  # a minus sign that is not '-'
    "1,5",
    "True",
    "None",
    "\x00",
    "\udcff",  # a byte that was not UTF-8 in argv
    "12abc",
    "-",
    "--",
    "1" * 50 + "e-1",
]


def parse(parser: cli.Parser, argv: list[str], capsys: pytest.CaptureFixture[str]) -> object:
    """The parsed namespace, or the one-line error (checked here) as an exception."""
    try:
        parsed = parser.parse_args(argv)
    except SystemExit as exit_:
        err = capsys.readouterr().err
        assert exit_.code == 2, (argv, exit_.code, err)
        lines = err.splitlines()
        assert len(lines) == 1 and "Traceback" not in err, (argv, err)
        assert ": error: " in lines[0] and lines[0].endswith("--help)"), (argv, err)
        return exit_
    assert capsys.readouterr().err == ""
    return parsed


def check_value(parser: cli.Parser, option: Option, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--flag=text` and `--flag text` take the number Python reads from `text` if it is in
    the option's range, and are refused in one line (checked by parse) if not."""
    wanted = option.rule.expected(text)
    forms = [[option.flag, text]]
    if option.flag.startswith("--") and text != "--":  # see test_a_double_dash_value_is_refused
        forms.append([f"{option.flag}={text}"])
    for form in forms:
        got = parse(parser, [*option.base, *form], capsys)
        if wanted is None:
            assert isinstance(got, SystemExit), f"{option} {text!r} was taken: {getattr(got, option.dest)!r}"
        elif isinstance(got, SystemExit):  # argparse reads "-5_000" as an option, not a number
            assert len(form) == 2 and text.startswith("-"), f"{option} {text!r} was refused"
        else:
            value = getattr(got, option.dest)
            assert type(value) is option.rule.kind and value == wanted, (str(option), text, value)


@pytest.fixture(scope="module")
def parser() -> cli.Parser:
    return build_parser()


def test_hostile_values_for_every_numeric_option(
    parser: cli.Parser, capsys: pytest.CaptureFixture[str]
) -> None:
    for option in OPTIONS:
        for text in HOSTILE:
            check_value(parser, option, text, capsys)


@pytest.mark.parametrize(
    ("rule", "taken", "refused"),
    [
        (RULES[cli.positive_int], ["1", " 2 ", "+3", "1_000", str(2**63)], ["0", "-0", "-1", "1.0", "nan"]),
        (RULES[cli.thread_count], ["1", str(cli.MAX_THREADS)], ["0", str(cli.MAX_THREADS + 1), str(10**30)]),
        (RULES[cli.int_value], ["0", "-5", str(10**30)], ["", "1e3", "inf"]),
        (RULES[cli.seed_value], ["0", str(MAX_SEED)], ["-1", str(MAX_SEED + 1), str(2**64)]),
        (RULES[cli.positive_float], ["5e-324", "1e308", "0.001"], ["0", "-0", "1e-400", "1e309", "nan"]),
        (RULES[cli.non_negative_float], ["0", "-0", "5e-324", "1e308"], ["-5e-324", "-inf", "nan"]),
        (RULES[cli.fraction], ["0", "0.9999999999999999", "5e-324"], ["1", "1.0", "-1e-300", "nan"]),
        (RULES[tempo_value], ["20", "400", "120.5"], ["19.999", "400.0001", "inf"]),
        (RULES[port_value], ["0", str(MAX_PORT)], ["-1", str(MAX_PORT + 1)]),
        (LAMBDA_RULES["--top-p"], ["1", "5e-324", "0.9"], ["0", "1.0000001", "-inf"]),
        (LAMBDA_RULES["--names"], ["1", str(cli.MAX_REPORT_NAMES)], ["0", str(cli.MAX_REPORT_NAMES + 1)]),
        (LAMBDA_RULES["complete --temperature"], ["0", "1e308"], ["-1e-300", "inf"]),
    ],
)
def test_boundary_values_are_taken_and_the_next_ones_refused(
    parser: cli.Parser, capsys: pytest.CaptureFixture[str], rule: Rule, taken: list[str], refused: list[str]
) -> None:
    options = [o for o in OPTIONS if o.rule == rule]
    assert options
    for text in taken:
        assert rule.expected(text) is not None, text
    for text in refused:
        assert rule.expected(text) is None, text
    for option in options:
        for text in [*taken, *refused]:
            check_value(parser, option, text, capsys)


def test_a_double_dash_value_is_refused(parser: cli.Parser, capsys: pytest.CaptureFixture[str]) -> None:
    """`--hidden=--` would never reach the option's parser (argparse drops the '--' and sets
    the value to []), so the command line refuses it in one line, for every option."""
    for option in OPTIONS:
        if option.flag.startswith("--"):
            got = parse(parser, [*option.base, f"{option.flag}=--"], capsys)
            assert isinstance(got, SystemExit), f"{option}=-- gives {getattr(got, option.dest)!r}"


number_texts = st.one_of(
    st.integers().map(str),
    st.floats().map(repr),
    st.floats().map(lambda f: f"{f:.3e}"),
    st.integers(-(10**40), 10**40).map(lambda i: f" {i:_} "),
    st.sampled_from(HOSTILE),
    st.text(max_size=12),
    st.text(alphabet="0123456789.-+eE_ infa", max_size=12),
)


@settings(FUZZ)
@given(option=st.sampled_from(OPTIONS), text=number_texts)
def test_any_text_for_any_numeric_option(
    parser: cli.Parser, capsys: pytest.CaptureFixture[str], option: Option, text: str
) -> None:
    check_value(parser, option, text, capsys)


# --- running ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz_cli")
    (root / "names.txt").write_text(NAMES)
    models.save(tiny_lines_model(), root / "lines.saurus")
    models.save(tiny_stream_model(), root / "stream.saurus")
    return root


HUGE = str(10**30)
TRAIN = ("train", "names.txt", "-o", "new.saurus", "--overwrite", "-q", "--val-fraction", "0")
QUICK = (*TRAIN, "--hidden", "8", "--iterations", "2")
# commands that run with extreme values the parser takes: each ends in 0 or in one line and 2
RUNS: list[tuple[str, ...]] = [
    ("sample", "lines.saurus", "--temperature", "5e-324"),
    ("sample", "lines.saurus", "--temperature", "1e308"),
    ("sample", "lines.saurus", "--top-k", HUGE),
    ("sample", "lines.saurus", "--top-p", "5e-324"),
    ("sample", "lines.saurus", "--max-len", HUGE),
    ("sample", "lines.saurus", "-n", HUGE),
    ("sample", "lines.saurus", "-n", str(2**63)),
    ("sample", "lines.saurus", "--most-likely", HUGE),
    ("sample", "lines.saurus", "--seed", str(MAX_SEED)),
    ("sample", "lines.saurus", "--threads", str(cli.MAX_THREADS)),
    ("sample", "lines.saurus", "--length", HUGE),
    ("sample", "stream.saurus", "--length", HUGE),
    ("sample", "stream.saurus", "-n", HUGE),
    ("sample", "stream.saurus", "--length", "3", "--temperature", "5e-324", "--top-k", HUGE),
    ("sample", "stream.saurus", "--max-len", "5"),
    ("score", "lines.saurus", "anna", "--threads", str(cli.MAX_THREADS)),
    ("eval", "lines.saurus", "names.txt", "--threads", "1"),
    (*TRAIN, "--hidden", HUGE),
    (*TRAIN, "--layers", HUGE),
    (*TRAIN, "--model", "classic", "--hidden", HUGE),
    (*QUICK, "--batch-size", HUGE),
    (*QUICK, "--eval-every", HUGE),
    (*QUICK, "--patience", HUGE),
    (*QUICK, "--patience", "-" + HUGE),
    (*QUICK, "--seq-len", HUGE),
    (*QUICK, "--mode", "stream", "--seq-len", HUGE),
    (*QUICK, "--mode", "stream", "--batch-size", HUGE),
    (*QUICK, "--lr", "1e308"),
    (*QUICK, "--lr", "5e-324"),
    (*QUICK, "--clip", "1e308"),
    (*QUICK, "--clip", "5e-324"),
    (*QUICK, "--weight-decay", "1e308"),
    (*QUICK, "--warmup", "0.9999999999999999"),
    (*QUICK, "--dropout", "0.9999999999999999"),
    (*QUICK, "--epochs", "1e308"),
    (*QUICK, "--time-budget", "1e308"),
    (*QUICK, "--val-fraction", "5e-324"),
    (*QUICK, "--heads", HUGE),
    (*QUICK, "--context", HUGE),
    (*QUICK, "--ema", "0.9999999999999999"),
    (*QUICK, "--model", "classic", "--lr", "1e308"),
    (*TRAIN, "--hidden", "8", "--epochs", "5e-324"),
    (*TRAIN, "--hidden", "8", "--time-budget", "5e-324"),
    (*TRAIN, "--hidden", "8", "--iterations", HUGE, "--time-budget", "0.3"),
    ("reproduce", "dinos", "--data", "names.txt", "--hidden", HUGE),
    ("reproduce", "dinos", "--data", "names.txt", "--iterations", "1", "--every", HUGE),
    ("reproduce", "minchar", "names.txt", "--hidden", HUGE),
    ("reproduce", "minchar", "names.txt", "--seq-len", HUGE),
    ("reproduce", "jaychou", "--data", "names.txt", "--hidden", HUGE),
    ("reproduce", "jaychou", "--data", "names.txt", "--chars", HUGE, "--epochs", "1"),
]
RUNS.append(("reproduce", "minchar", "names.txt", "--lr", "1e308", "--iterations", "3", "--every", "1"))


def run_main(root: Path, args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str | None:
    """Run `saurus ARGS` in this process; None if it ended well, else what went wrong."""
    capsys.readouterr()
    try:
        with wall_limit(60):
            code: object = main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    except (Exception, Hang) as err:
        return f"{type(err).__name__}: {err}"
    finally:
        for leftover in root.glob("new.saurus*"):
            leftover.unlink()
    err = capsys.readouterr().err
    if code == 2:
        lines = err.splitlines()
        if len(lines) != 1 or "Traceback" in err:
            return f"exit 2 with {len(lines)} lines: {err[-300:]!r}"
        return None
    if code != 0 or "Traceback" in err:
        return f"exit {code}: {err[-300:]!r}"
    return None


@pytest.fixture
def in_workspace(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("SAURUS_THREADS", "1")  # --threads sets it; monkeypatch puts it back
    monkeypatch.setenv("SAURUS_DATA_DIR", str(workspace / "no-data"))
    return workspace


def test_commands_with_extreme_values_end_in_a_result_or_one_line(
    in_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = []
    for args in RUNS:
        why = run_main(in_workspace, args, capsys)
        if why is not None:
            failures.append(f"saurus {' '.join(args)}: {why}")
    assert not failures, "\n".join(failures)


def run_saurus(root: Path, args: list[str | bytes]) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "PYTHONIOENCODING": "utf-8",  # strict, as on most terminals
        "SAURUS_DATA_DIR": str(root / "no-data"),
        "OPENBLAS_NUM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "saurus", *args],
        capture_output=True,
        cwd=root,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


SUBPROCESS_CASES: list[list[str | bytes]] = [
    ["sample", "lines.saurus", "--temperature", "nan"],
    ["sample", "lines.saurus", "--top-p=-inf"],
    ["sample", "lines.saurus", "-n", ""],
    ["sample", "lines.saurus", "--prefix", b"\xff"],  # not UTF-8: a surrogate in Python
    ["score", "lines.saurus", "anna", "--threads", HUGE],
    ["train", "names.txt", "-o", "new.saurus", "--lr", "1e309"],
    ["train", "names.txt", "-o", "new.saurus", "--hidden", "9" * 5000],
    ["reproduce", "dinos", "--names", "١٠٠١"],
    ["serve", "lines.saurus", "--port", "65536"],
]


def test_the_command_itself_ends_in_one_line(workspace: Path) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda args: run_saurus(workspace, args), SUBPROCESS_CASES))
    for args, result in zip(SUBPROCESS_CASES, results, strict=True):
        err = result.stderr.decode("utf-8", "replace")
        assert result.returncode == 2, (args, result.returncode, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (args, err)
        assert result.stdout == b"", args


def test_scoring_text_that_is_not_utf8_prints_it_escaped(workspace: Path) -> None:
    """A string from argv holding a byte that is not UTF-8 (a surrogate in Python) is printed
    back escaped, so a strict stdout (PYTHONIOENCODING=utf-8) takes it."""
    result = run_saurus(workspace, ["score", "stream.saurus", "--skip-unknown", b"the\xff cat"])
    err = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and b"the\\udcff cat" in result.stdout, (err, result.stdout)
    assert result.returncode in (0, 2) and len(err.splitlines()) <= 1, err
