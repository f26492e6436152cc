"""`saurus sample` with constraints on names, and the same constraints over HTTP."""

from __future__ import annotations

import re

import pytest
from helpers import assert_one_line_error, saurus


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (["--ends-with", "saurus"], lambda n: n.endswith("saurus")),
        (["--starts-with", "tyr", "--max-len", "9"], lambda n: n.startswith("tyr") and len(n) <= 9),
        (["--contains", "rex", "--contains", "o"], lambda n: "rex" in n and "o" in n),
        (["--excludes", "a", "--excludes", "us"], lambda n: "a" not in n and "us" not in n),
        (["--min-len", "12", "--max-len", "14"], lambda n: 12 <= len(n) <= 14),
        (["--pattern", "[aeiou]{2}[a-z]*(don|rex)"], lambda n: re.fullmatch("[aeiou]{2}[a-z]*(don|rex)", n)),
        (["--ends-with", "x", "--novel", "--unique"], lambda n: n.endswith("x")),
    ],
)
def test_every_name_meets_the_constraints(args: list[str], check) -> None:
    done = saurus("sample", "dinos", "-n", "25", "--seed", "3", *args)
    assert done.returncode == 0, done.stderr
    names = done.stdout.split()
    assert len(names) == 25 and all(check(n) for n in names), names
    if "--novel" in args:
        assert len(set(names)) == 25


def test_the_same_seed_gives_the_same_constrained_names() -> None:
    first = saurus("sample", "-n", "8", "--seed", "5", "--ends-with", "rex").stdout
    assert first == saurus("sample", "-n", "8", "--seed", "5", "--ends-with", "rex").stdout


def test_most_likely_honours_the_constraints() -> None:
    done = saurus("sample", "--most-likely", "5", "--ends-with", "don", "--max-len", "8")
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert len(lines) == 5 and all(n.endswith("don") and len(n) <= 8 for _, n in lines)
    logps = [float(lp) for lp, _ in lines]
    assert logps == sorted(logps, reverse=True)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--pattern", "(a|b)*a(a|b){14}"], "too complex"),
        (["--pattern", "("], "not a regular expression"),
        (["--pattern", "[0-9]+"], "no name can meet"),
        (["--min-len", "9", "--max-len", "3"], "no name fits"),
        (["--pattern", "qq[a-z]*qq", "--time-limit", "0.5"], "names that meet the constraints"),
        (["--time-limit", "-1", "--ends-with", "a"], "--time-limit"),
        (["shakespeare", "--ends-with", "a"], "--ends-with applies to lines models"),
    ],
)
def test_wrong_or_hostile_constraints_end_in_one_line(args: list[str], said: str) -> None:
    assert_one_line_error(saurus("sample", *args), said)
