"""--novel by construction: the choices that would complete a training name, or a name
given already, are masked before each draw, so exactly n new names come back even from a
model that recites its data; chain hashes in the model file, and files from before them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES

from saurus.data.corpus import LinesCorpus
from saurus.files import models
from saurus.generation.decoding import Decoding
from saurus.generation.novelty import (
    MAX_CHAIN,
    ROOT,
    Fence,
    NewNames,
    chain_hashes,
    chain_of,
    hashes_of,
    name_hashes,
    overlap,
    read_record,
    seen_mask,
)
from saurus.generation.sampling import generate_lines, iter_lines, unique_lines
from saurus.generation.steppers import stepper_for
from saurus.models.recurrent import CharModel
from saurus.training.loop import TrainConfig, train_text

TRAINING = set(LinesCorpus.from_text(NAMES).examples)
LETTERS = sorted(set(NAMES) - {"\n"})


@pytest.fixture(scope="module")
def reciter() -> CharModel:
    """A model that has learnt its twelve names by heart."""
    config = TrainConfig(hidden=32, batch_size=4, iterations=300, lr=0.01, val_fraction=0)
    return train_text(NAMES * 4, config).model


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def old_style(model: CharModel) -> CharModel:
    """The same model as a file written before chain hashes would give it: blake2b hashes."""
    old = np.unique(hashes_of(sorted(TRAINING)))
    return CharModel(**{**model.__dict__, "seen": old})


def test_a_model_that_recites_still_gives_exactly_n_new_names(reciter: CharModel) -> None:
    plain = generate_lines(reciter, 200, rng())
    assert sum(name in TRAINING for name in plain) > 100  # it recites
    # drawing and discarding (what --novel did before) falls short: greedy draws one
    # training name, and the two likeliest characters mostly spell training names
    for how, most in ((Decoding(greedy=True), 0), (Decoding(top_k=2), 15)):
        stepper = stepper_for(reciter)
        drawn = unique_lines(
            reciter, 20, rng(), how, np.zeros(0, np.int64), 50, NewNames(reciter.seen), stepper
        )
        assert len([name for batch in drawn for name in batch]) <= most
    for options in ({}, {"greedy": True}, {"top_k": 2}, {"top_p": 0.5}, {"prefix": "an"}, {"max_len": 4}):
        novel = generate_lines(reciter, 20, rng(), novel=True, **options)
        assert len(novel) == 20 and len(set(novel)) == 20, options
        assert not set(novel) & TRAINING, options
        assert all(len(name) <= options.get("max_len", 50) for name in novel)


def test_novel_names_are_drawn_as_plain_ones_where_nothing_is_masked(reciter: CharModel) -> None:
    """A prefix no training name starts with, and short names: nothing to mask but repeats,
    so the first name of each seed is what plain sampling gives."""
    for seed in range(5):
        plain = generate_lines(reciter, 1, rng(seed), prefix="oo", max_len=6)
        assert generate_lines(reciter, 1, rng(seed), prefix="oo", max_len=6, novel=True) == plain


def test_the_same_seed_gives_the_same_new_names(reciter: CharModel) -> None:
    a = generate_lines(reciter, 300, rng(5), novel=True)
    assert a == generate_lines(reciter, 300, rng(5), novel=True)
    assert a != generate_lines(reciter, 300, rng(6), novel=True)


def test_when_every_name_is_taken_it_stops_with_all_there_are(reciter: CharModel) -> None:
    """Names of one letter: each letter once; of at most two: each of L + L^2 once (minus
    training names of that length, none here), then the model has no new name left."""
    letters = generate_lines(reciter, 100, rng(), novel=True, max_len=1)
    assert sorted(letters) == LETTERS
    short = generate_lines(reciter, 1000, rng(), novel=True, max_len=2)
    assert len(short) == len(set(short)) == len(LETTERS) + len(LETTERS) ** 2
    # a prefix that is itself a training name, with room for one more letter
    after = generate_lines(reciter, 100, rng(), novel=True, prefix="bob", max_len=4)
    assert sorted(after) == sorted("bob" + c for c in LETTERS)


def test_names_given_in_earlier_batches_are_never_given_again(
    reciter: CharModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import saurus.generation.sampling as sampling

    monkeypatch.setattr(sampling, "MAX_BATCH", 16)
    batches = list(iter_lines(reciter, 400, rng(), novel=True, temperature=0.5))
    names = [name for batch in batches for name in batch]
    assert len(batches) == 25 and len(names) == len(set(names)) == 400
    assert not set(names) & TRAINING


def test_files_from_before_chain_hashes_still_give_new_names(reciter: CharModel) -> None:
    old = old_style(reciter)
    assert read_record(old.seen).chain is None
    names = generate_lines(old, 50, rng(), novel=True, temperature=1.5)
    assert len(names) == len(set(names)) == 50 and not set(names) & TRAINING
    assert seen_mask(old.seen, ["anna", "zed"]).tolist() == [True, False]


# --- the hashes ---


def test_chain_hashes_follow_the_name_a_character_at_a_time() -> None:
    texts = ["", "a", "ab", "ba", "anna", "é😀", "x" * 300, "y" * (MAX_CHAIN + 1)]
    hashes = chain_hashes(texts)
    assert hashes[0] == ROOT
    for text, h in zip(texts[:-1], hashes[:-1], strict=True):
        assert chain_of([ord(c) for c in text]) == h
    # a name's hash from its prefix's: what generation updates row by row
    assert chain_of([ord("b")], start=chain_hashes(["a"])[0]) == hashes[2]
    assert len(set(hashes.tolist())) == len(texts)
    assert hashes[-1] == hashes_of([texts[-1]])[0]  # too long to be a name: blake2b


def test_a_model_file_keeps_chain_hashes_in_descending_order(tmp_path: Path, reciter: CharModel) -> None:
    seen = name_hashes(["bob", "anna", "bob", "cleo"])
    assert len(seen) == 3 and np.all(seen[1:] < seen[:-1])
    path = tmp_path / "m.saurus"
    models.save(reciter, path)
    loaded = models.load(path)
    np.testing.assert_array_equal(loaded.seen, name_hashes(sorted(TRAINING)))
    record = read_record(loaded.seen)
    assert record.blake is None and record.seen(["anna", "zed"]).tolist() == [True, False]
    # one line: either kind may be meant, so both are checked
    single = read_record(name_hashes(["anna"]))
    assert single.chain is not None and single.blake is not None
    assert read_record(np.unique(hashes_of(["anna"]))).seen(["anna"]).tolist() == [True]


def test_a_collision_can_only_keep_a_new_name_out() -> None:
    """A fence that holds the hash of 'c' forbids 'c' (as a collision would forbid a new
    name that happens to share a training name's hash), and nothing else."""
    fence = Fence(read_record(name_hashes(["c", "anna"])))
    assert fence.forbidden(chain_hashes(["c", "anna", "cc", "ann"])).tolist() == [True, True, False, False]
    fence.give(chain_hashes(["ann"]))  # a name of this batch: forbidden once it is settled
    fence.settle()
    assert fence.forbidden(chain_hashes(["ann"])).tolist() == [True]


def test_eval_still_warns_about_seen_text_with_either_kind(reciter: CharModel) -> None:
    assert "12 of 12 names" in overlap(reciter, sorted(TRAINING), "names.txt")
    assert "12 of 12 names" in overlap(old_style(reciter), sorted(TRAINING), "names.txt")
    assert overlap(reciter, ["zed"], "x.txt") == ""


def test_the_command_line_gives_exactly_n_new_names(tmp_path: Path, reciter: CharModel) -> None:
    path = tmp_path / "reciter.saurus"
    models.save(reciter, path)
    result = subprocess.run(
        [sys.executable, "-m", "saurus", "sample", str(path), "-n", "20", "--novel", "--seed", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = result.stdout.split("\n")[:-1]
    assert result.returncode == 0 and result.stderr == ""
    assert len(names) == len(set(names)) == 20 and not set(names) & TRAINING
    short = subprocess.run(
        [sys.executable, "-m", "saurus", "sample", str(path), "-n", "30", "--novel", "--max-len", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sorted(short.stdout.split()) == LETTERS
    assert f"only {len(LETTERS)} of 30 names are new" in short.stderr
