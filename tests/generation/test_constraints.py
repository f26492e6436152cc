"""Constraints on names are exact: the names drawn follow the model's distribution restricted
to the names that meet them, as plain rejection sampling gives, and not the skewed one that
masking characters step by step gives.

On a tiny model (three letters, names of at most four) every name's probability is known
by enumeration: a chi-square test accepts the drawn names against the restricted
distribution and rejects them against the masked one (so the test has the power to see the
flaw). On the pretrained dinosaur model, the lengths and first letters of constrained names
match those of plain rejection sampling. --most-likely under constraints equals brute force.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

import saurus
from saurus.errors import OptionError
from saurus.files.pretrained import resolve
from saurus.generation.constraints import Constraints
from saurus.generation.likely import most_likely_names
from saurus.generation.sampling import TooRareError, generate_lines
from saurus.generation.scoring import score_strings
from saurus.generation.steppers import stepper_for
from saurus.protocol import SequenceModel

LETTERS = "abc"
LONGEST = 4
DRAWS = 12_000
CASES = {
    "ends_with": Constraints(ends_with="a", max_len=LONGEST),
    "contains": Constraints(contains=("bc",), max_len=LONGEST),
    "excludes": Constraints(excludes=("a",), max_len=LONGEST),
    "excludes a string": Constraints(excludes=("ab",), max_len=LONGEST),
    "lengths": Constraints(min_len=3, max_len=LONGEST),
    "pattern": Constraints(pattern="(ab|c)+b?", max_len=LONGEST),
    "together": Constraints(ends_with="c", contains=("b",), excludes=("aa",), min_len=2, max_len=LONGEST),
}


@pytest.fixture(scope="module")
def tiny() -> SequenceModel:
    rng = np.random.default_rng(0)
    names = ["".join(rng.choice(list(LETTERS), size=rng.integers(1, LONGEST + 1))) for _ in range(300)]
    config = saurus.TrainConfig(engine="numpy", hidden=8, iterations=150, val_fraction=0, seed=1)
    return saurus.train_text("\n".join(names) + "\n", config).model


@pytest.fixture(scope="module")
def dinos() -> SequenceModel:
    return saurus.load(resolve("dinos"))


def every_name() -> list[str]:
    return ["".join(p) for n in range(1, LONGEST + 1) for p in itertools.product(LETTERS, repeat=n)]


def chi_square_p(observed: Counter[str], expected: dict[str, float], draws: int) -> float:
    """The p-value of Pearson's chi-square test (Wilson-Hilferty's normal approximation),
    names expected fewer than 5 times pooled into one cell."""
    stat, pooled_obs, pooled_exp, cells = 0.0, 0, 0.0, 0
    for name, share in expected.items():
        e = share * draws
        if e < 5:
            pooled_obs, pooled_exp = pooled_obs + observed[name], pooled_exp + e
            continue
        stat += (observed[name] - e) ** 2 / e
        cells += 1
    if pooled_exp > 0:
        stat += (pooled_obs - pooled_exp) ** 2 / pooled_exp
        cells += 1
    stat += sum(observed[n] for n in observed if n not in expected) * 1e9  # a name never allowed
    k = max(cells - 1, 1)
    z = ((stat / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return 0.5 * math.erfc(z / math.sqrt(2))


def restricted(model: SequenceModel, constraints: Constraints) -> dict[str, float]:
    """Each allowed name's probability under the model, renormalised over the allowed."""
    auto = constraints.compile(model.vocab)
    allowed = [n for n in every_name() if auto.accepts(model.vocab.encode(n))]
    logp = np.array([-r.total_nats for r in score_strings(model, allowed)])
    p = np.exp(logp - logp.max())
    return dict(zip(allowed, p / p.sum(), strict=True))


def masked(model: SequenceModel, constraints: Constraints) -> dict[str, float]:
    """What masking step by step gives: at each prefix, the characters (and the end) that
    cannot lead to an allowed name are masked and the rest renormalised."""
    auto, vocab, stepper = constraints.compile(model.vocab), model.vocab, stepper_for(model)
    eos = vocab.eos_id
    out: dict[str, float] = {}

    def walk(prefix: str, state: int, p: float) -> None:
        logits = stepper.root(vocab.encode(prefix)).logits[:, 0].astype(np.float64)
        ok = np.array(
            [
                auto.live[auto.delta[state, i]] if i != eos else auto.accepting[state]
                for i in range(vocab.size)
            ]
        )
        if not prefix:
            ok[eos] = False
        if len(prefix) == LONGEST:
            ok[:] = False
            ok[eos] = auto.accepting[state]
        q = np.where(ok, np.exp(logits - logits.max()), 0.0)
        q /= q.sum()
        for i in np.flatnonzero(q):
            if i == eos:
                out[prefix] = out.get(prefix, 0.0) + p * q[i]
            else:
                walk(prefix + vocab.chars[i], int(auto.delta[state, i]), p * q[i])

    walk("", auto.start, 1.0)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_constrained_names_follow_the_restricted_distribution_not_the_masked_one(
    tiny: SequenceModel, case: str
) -> None:
    constraints = CASES[case]
    rng = np.random.default_rng(7)
    names = generate_lines(tiny, DRAWS, rng, max_len=LONGEST + 1, constraints=constraints)
    assert len(names) == DRAWS
    auto = constraints.compile(tiny.vocab)
    assert all(auto.accepts(tiny.vocab.encode(n)) for n in names)
    observed = Counter(names)
    exact, skewed = restricted(tiny, constraints), masked(tiny, constraints)
    assert chi_square_p(observed, exact, DRAWS) > 1e-3
    distance = 0.5 * sum(abs(exact.get(n, 0) - skewed.get(n, 0)) for n in exact.keys() | skewed.keys())
    if distance > 0.05:  # where masking skews enough to see in this many draws, the test sees it
        assert chi_square_p(observed, skewed, DRAWS) < 1e-6


@pytest.mark.parametrize(
    "constraints",
    [
        Constraints(ends_with="us"),
        Constraints(contains=("ra",)),
        Constraints(excludes=("s", "a")),
        Constraints(min_len=5, max_len=8),
        Constraints(pattern="[aeiou][a-z]*x[a-z]*"),
        Constraints(ends_with="s", contains=("o",), max_len=12, pattern="[b-m].*"),
    ],
    ids=["ends_with", "contains", "excludes", "lengths", "pattern", "together"],
)
def test_on_a_real_model_lengths_and_first_letters_match_plain_rejection(
    dinos: SequenceModel, constraints: Constraints
) -> None:
    auto = constraints.compile(dinos.vocab)
    room = 20
    plain = generate_lines(dinos, 60_000, np.random.default_rng(1), max_len=room)
    kept = [n for n in plain if auto.accepts(dinos.vocab.encode(n))][:1500]
    drawn = generate_lines(dinos, len(kept), np.random.default_rng(2), max_len=room, constraints=constraints)
    assert len(kept) >= 300 and len(drawn) == len(kept)
    for stat in (len, lambda n: n[0]):
        a, b = Counter(map(stat, kept)), Counter(map(stat, drawn))
        total = {k: (a[k] + b[k]) / (2 * len(kept)) for k in a.keys() | b.keys()}
        p = min(chi_square_p(a, total, len(kept)), chi_square_p(b, total, len(kept)))
        assert p > 1e-4, (constraints, a.most_common(5), b.most_common(5))


@pytest.mark.parametrize("case", list(CASES))
def test_most_likely_under_constraints_equals_brute_force(tiny: SequenceModel, case: str) -> None:
    exact = restricted(tiny, CASES[case])
    best = sorted(exact, key=lambda n: -exact[n])[:8]
    found = most_likely_names(tiny, 8, max_len=LONGEST + 1, constraints=CASES[case])
    assert [n for n, _ in found] == best[: len(found)] and len(found) == min(8, len(exact))
    scores = score_strings(tiny, [n for n, _ in found])
    assert [lp for _, lp in found] == pytest.approx([-s.total_nats for s in scores], abs=1e-6)


def test_a_constraint_too_rare_ends_with_the_count_and_the_share(dinos: SequenceModel) -> None:
    names: list[str] = []
    with pytest.raises(TooRareError, match=r"found \d+ of 50 names .* in 0.5 s: .* of the model's names"):
        for batch in saurus.iter_lines(
            dinos, 50, np.random.default_rng(0), constraints=Constraints(pattern="q[a-z]*q"), time_limit=0.5
        ):
            names += batch
    assert all(n.startswith("q") and n.endswith("q") for n in names)


@pytest.mark.parametrize(
    ("constraints", "said"),
    [
        (lambda: Constraints(pattern="(a|b)*a(a|b){14}"), "too complex"),
        (lambda: Constraints(pattern="x" * 301), "at most 300"),
        (lambda: Constraints(pattern="[0-9]+"), "no name can meet"),
        (lambda: Constraints(pattern="a&&b("), "not a regular expression"),
        (lambda: Constraints(min_len=5, max_len=3), "no name fits"),
        (lambda: Constraints(contains=tuple("abcdefghi")), "at most 8"),
        (lambda: Constraints(excludes=("",)), "1 to 64 characters"),
    ],
)
def test_hostile_or_impossible_constraints_are_refused_in_one_line(
    dinos: SequenceModel, constraints, said: str
) -> None:
    with pytest.raises(OptionError, match=said) as caught:
        constraints().compile(dinos.vocab)
    assert "\n" not in str(caught.value)
