"""How good is a music model: the likelihood of held-out music, and how its own music
compares with that music (saurus.music.quality), and how much of its training it copies."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from saurus.data.corpus import StreamCorpus
from saurus.errors import DataError
from saurus.generation.sampling import Decoding
from saurus.generation.scoring import LossReport, evaluate
from saurus.music.pieces import Piece, load_pieces
from saurus.music.quality import NoteList, compare, copy_rate, longest_shared_run
from saurus.music.sample import MusicModel, improvise, load_music_model
from saurus.music.token_text import SEPARATOR, pieces_text
from saurus.music.tokens import notes_of, tokens_to_score

MAX_SAMPLE_BARS = 64
COPY_NGRAM = 8


@dataclass(frozen=True)
class Likelihood:
    """Held-out negative log-likelihood, per token (separators included) and per note."""

    report: LossReport
    notes: int
    skipped: int  # tokens left out because the model never saw them

    @property
    def per_note(self) -> float:
        return self.report.total_nats / self.notes if self.notes else math.inf


def known_only(music: MusicModel, pieces: Sequence[Piece], skip_unknown: bool) -> tuple[list[Piece], int]:
    """The pieces without tokens the model never saw; those are refused unless `skip_unknown`."""
    known = set(music.table.tokens)
    unknown = sum(1 for p in pieces for t in p.tokens if t not in known)
    if unknown and not skip_unknown:
        example = next(t for p in pieces for t in p.tokens if t not in known)
        raise DataError(
            f"{unknown} tokens of the music were never seen in training (e.g. {example!r}); "
            "add --skip-unknown to score the rest"
        )
    kept = [Piece(p.name, tuple(t for t in p.tokens if t in known), p.path) for p in pieces]
    return [p for p in kept if p.tokens], unknown


def likelihood(music: MusicModel, pieces: Sequence[Piece], skip_unknown: bool = False) -> Likelihood:
    kept, skipped = known_only(music, pieces, skip_unknown)
    if not kept:
        raise DataError("nothing left to score: every token is unknown to the model")
    report = evaluate(music.model, StreamCorpus(pieces_text(music.table, kept)))
    return Likelihood(report, sum(p.notes for p in kept), skipped)


def unigram_likelihood(train: Sequence[Piece], held: Sequence[Piece]) -> float:
    """Nats per token of `held` under the training tokens' frequencies (add-one smoothed),
    separators included: the baseline any model must beat."""
    counts = Counter(t for p in train for t in (*p.tokens, SEPARATOR))
    vocab = set(counts) | {t for p in held for t in p.tokens}
    total = sum(counts.values()) + len(vocab)
    held_tokens = [t for p in held for t in (*p.tokens, SEPARATOR)]
    return -sum(math.log((counts[t] + 1) / total) for t in held_tokens) / len(held_tokens)


def unigram_pieces(train: Sequence[Piece], n: int, length: int, seed: int) -> list[list[str]]:
    """`n` pieces of `length` tokens drawn independently from the training frequencies."""
    counts = Counter(t for p in train for t in p.tokens)
    tokens = sorted(counts)
    p = np.array([counts[t] for t in tokens], dtype=float)
    rng = np.random.default_rng(seed)
    return [[tokens[i] for i in rng.choice(len(tokens), size=length, p=p / p.sum())] for _ in range(n)]


def bars_of(piece: Piece) -> int:
    return sum(1 for t in piece.tokens if t.startswith("Bar"))


def note_list(tokens: Sequence[str]) -> NoteList:
    """The notes the tokens decode to, in beats."""
    rows = notes_of(tokens_to_score(tokens))
    return NoteList.from_tuples((pitch, onset, duration, drum) for _, drum, pitch, onset, duration in rows)


def improvised(
    music: MusicModel, n: int, bars: int, seed: int, how: Decoding | None = None
) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [improvise(music, rng, how or Decoding(), bars=bars) for _ in range(n)]


def sample_bars(held: Sequence[Piece]) -> int:
    """As many bars as a typical held-out piece (the median), at most MAX_SAMPLE_BARS."""
    return int(min(MAX_SAMPLE_BARS, max(1, np.median([bars_of(p) for p in held]))))


def quality(
    generated: Sequence[Sequence[str]], held: Sequence[Piece], train: Sequence[Piece] | None = None
) -> dict[str, float]:
    """compare() of the generated against the held-out notes, plus copying when the
    training music is given: the longest run of tokens shared with it, and the share of
    generated COPY_NGRAM-grams found in it."""
    result = compare([note_list(g) for g in generated], [note_list(p.tokens) for p in held])
    if train:
        corpus = [t for p in train for t in (*p.tokens, SEPARATOR)]
        result["longest_copied_run"] = float(max(longest_shared_run(list(g), corpus) for g in generated))
        result["copy_rate"] = float(np.mean([copy_rate(list(g), corpus, COPY_NGRAM) for g in generated]))
    return result


@dataclass
class MusicReport:
    likelihood: Likelihood
    pieces: int
    metrics: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    bars: int = 0

    def table(self) -> str:
        lk = self.likelihood
        lines = [
            f"held-out: {self.pieces} piece{'' if self.pieces == 1 else 's'}, {lk.report.chars} tokens, "
            f"{lk.notes} notes" + (f" ({lk.skipped} unknown tokens left out)" if lk.skipped else ""),
            f"nll per token  {lk.report.nats:.4f} nats (perplexity {lk.report.perplexity:.2f})",
            f"nll per note   {lk.per_note:.4f} nats",
            f"{self.samples} improvised pieces of {self.bars} bars against the held-out music:",
        ]
        for name, value in self.metrics.items():
            lines.append(f"  {name:<28} {value:.4f}")
        return "\n".join(lines) + "\n"


def assess(
    model_path: str,
    sources: Sequence[str],
    *,
    samples: int,
    seed: int,
    train_source: str | None = None,
    skip_unknown: bool = False,
    on_progress: Callable[[str], None] | None = None,
) -> MusicReport:
    """`saurus music eval`: likelihood of `sources`, then `samples` improvised pieces compared."""
    music = load_music_model(model_path)
    held = [p for s in sources for p in load_pieces(s, on_progress=on_progress)]
    train = load_pieces(train_source, on_progress=on_progress) if train_source else None
    lk = likelihood(music, held, skip_unknown)
    bars = sample_bars(held)
    generated = improvised(music, samples, bars, seed)
    return MusicReport(lk, len(held), quality(generated, held, train), samples, bars)
