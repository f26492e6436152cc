"""A batch whose step would hold more than the stepper's batch_cap nodes goes on as groups
of at most that many nodes, one subtree after another (saurus.generation.names): the
names keep the model's distribution, constrained names the restricted one, and novel
names stay new and distinct, whatever the cap."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from test_constraints import CASES, DRAWS, LONGEST, chi_square_p, restricted, tiny  # noqa: F401
from test_novel_by_construction import LETTERS, TRAINING
from test_sampling_fast import engine, two_letter_odds

import saurus.generation.sampling as sampling
from saurus.generation.decoding import Decoding
from saurus.generation.names import draw_names
from saurus.generation.novelty import name_hashes
from saurus.generation.sampling import generate_lines
from saurus.models.fused_lstm import FusedLSTM
from saurus.protocol import SequenceModel


@pytest.fixture
def cap(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Steppers made by the sampler hold at most 3 nodes a step; the list gets the size of
    every step."""
    sizes: list[int] = []
    real = sampling.stepper_for

    def capped(model: SequenceModel, **options: bool) -> object:
        stepper = real(model, **options)
        stepper.batch_cap = 3
        children = stepper.children

        def counted(nodes: object, parent: np.ndarray, ids: np.ndarray) -> object:
            sizes.append(len(parent))
            return children(nodes, parent, ids)

        stepper.children = counted  # type: ignore[method-assign]
        return stepper

    monkeypatch.setattr(sampling, "stepper_for", capped)
    return sizes


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_names_drawn_in_groups_follow_the_models_probabilities(kind: str, cap: list[int]) -> None:
    model = engine(kind)
    names = generate_lines(model, 60_000, np.random.default_rng(0), max_len=2)
    assert max(cap) <= 3 and len(cap) > 5  # the first letters in groups of three
    odds = two_letter_odds(model)
    counts = Counter(names)
    seen = np.array([counts[name] for name in odds]) / len(names)
    np.testing.assert_allclose(seen, np.array(list(odds.values())), atol=0.005)


@pytest.mark.parametrize("case", ["together", "pattern", "contains"])
def test_constrained_names_in_groups_follow_the_restricted_distribution(
    tiny: SequenceModel,  # noqa: F811
    case: str,
    cap: list[int],
) -> None:
    names = generate_lines(
        tiny, DRAWS, np.random.default_rng(3), max_len=LONGEST + 1, constraints=CASES[case]
    )
    assert len(names) == DRAWS and max(cap) <= 3
    assert chi_square_p(Counter(names), restricted(tiny, CASES[case]), DRAWS) > 1e-3


def test_novel_names_in_groups_are_new_distinct_and_all_there_are(cap: list[int]) -> None:
    model = engine(hidden=16)
    model.seen = name_hashes(sorted(TRAINING))
    for options in ({}, {"top_k": 2}, {"prefix": "an"}, {"max_len": 4}):
        novel = generate_lines(model, 40, np.random.default_rng(1), novel=True, **options)
        assert len(novel) == len(set(novel)) == 40 and not set(novel) & TRAINING, options
    short = generate_lines(model, 1000, np.random.default_rng(2), novel=True, max_len=2)
    assert len(short) == len(set(short)) == len(LETTERS) + len(LETTERS) ** 2
    assert max(cap) <= 3


def test_groups_side_by_side_give_the_names_of_one_thread() -> None:
    """Each group draws from a generator of its own: the threads' order does not matter."""
    model = engine(hidden=24)
    names = {}
    for workers in (1, 3):
        stepper = FusedLSTM(model)
        stepper.workers, stepper.batch_cap = workers, 5
        how, no_prefix = Decoding(), np.zeros(0, np.int64)
        names[workers] = draw_names(model, 3000, np.random.default_rng(1), how, no_prefix, 12, None, stepper)
    assert names[1] == names[3] and len(set(names[1])) > 500
