"""Train a frame-notes model with either engine and keep it as a NumPy model.

Each piece is one sequence of ids (saurus.music.frame_model), its inputs the previous
ids with FRAME_END first. The loss is the masked one of frame_model (logits plus
log_mask[previous id], cross-entropy, padding weighted 0), trained by
saurus.training.masked_fit.fit_masked: Adam, gradient clipping, dropout, early stopping
on the validation NLL per frame (frame_eval's `convention`), best weights kept, a time
budget, Ctrl-C keeping the best so far. The test split is never read here.

Engines: torch (training.backends.torch.masked_trainee: every family) or numpy
(frame_trainees: lstm, gru, rnn; the NumPy transformer has no backward pass). Both draw
the same batches from the same seed. "auto" is torch where it is installed. The NumPy
CharModel folds the input embedding into layer 0 (an embedding of V rows of G H), so
`embed` shapes the torch model only; `threads` sets torch's threads only.

Transposition augmentation: each time a piece is drawn, it keeps its key with
probability keep_key, and is otherwise shifted by k semitones, k uniform over the shifts
in [-transpose, transpose] that keep every note in 0..P-1 (k = 0 always qualifies;
saurus.music.transposing):

    y'_k = y_k + k  for a pitch,   FRAME_END stays   (the order within a frame is kept)

Training pieces longer than 128 frames are cut into chunks (saurus.music.chunks), so that
few long pieces still make many steps; validation pieces are scored whole.

Batches: the pieces of a pass are shuffled, sorted by length within windows of
SORT_WINDOW batches (less padding), cut into batches, and the batches shuffled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from saurus.errors import OptionError
from saurus.music.chunks import chunked
from saurus.music.frame_eval import Convention, nll_per_frame
from saurus.music.frame_model import FrameModel, create_frame_model, frame_vocab, padded_ids, piece_ids
from saurus.music.frame_plan import step_seconds
from saurus.music.frame_tokens import frame_log_likelihoods, log_mask
from saurus.music.frame_trainees import NumpyFrameTrainee
from saurus.music.jsb import PITCHES
from saurus.music.length_batches import by_length
from saurus.music.transposing import NOTES_KEEP, draw_shift
from saurus.training.config import INSTALL_HINT, torch_available
from saurus.training.masked_fit import MaskedTrainee, fit_masked

SORT_WINDOW = 8  # batches whose pieces are sorted by length together
EVAL_BATCH = 32
ENGINES = ("auto", "numpy", "torch")
FAMILIES = ("lstm", "gru", "rnn", "transformer")
NUMPY_FAMILIES = ("lstm", "gru", "rnn")  # the NumPy transformer has no backward pass


@dataclass(frozen=True)
class FrameTrainConfig:
    """family: lstm, gru, rnn or transformer (hidden is its d_model); engine: auto, numpy
    or torch (see the module)."""

    family: str = "lstm"
    hidden: int = 256
    layers: int = 1
    embed: int = 64
    heads: int = 4
    context: int = 1024  # transformer positions: JSB's longest piece has 787 ids
    dropout: float = 0.3
    lr: float = 2e-3
    batch: int = 16
    clip: float = 1.0
    budget_s: float = 120.0
    patience: int = 5
    max_passes: int = 10_000
    transpose: int = 6  # largest shift in semitones; 0: no augmentation
    keep_key: float = NOTES_KEEP  # the share of pieces left in their own key (music.transposing)
    seed: int = 0
    threads: int | None = None
    convention: Convention = "skip-first"  # the validation NLL that early stopping reads
    engine: str = "auto"

    def resolved(self) -> FrameTrainConfig:
        """This config with its engine chosen ("auto": torch where installed), or an
        OptionError for a family or engine that cannot train."""
        if self.family not in FAMILIES:
            raise OptionError(f"unknown model family {self.family!r}; choose {', '.join(FAMILIES)}")
        if self.engine not in ENGINES:
            raise OptionError(f"unknown engine {self.engine!r}; choose {', '.join(ENGINES)}")
        engine = self.engine
        if engine == "auto":
            engine = "torch" if torch_available() else "numpy"
        if engine == "numpy" and self.family not in NUMPY_FAMILIES:
            raise OptionError(
                "the transformer trains with torch (the NumPy engine trains lstm, gru and rnn): "
                "use --engine torch, or --model lstm, gru or rnn"
            )
        if engine == "torch" and not torch_available():
            raise OptionError(f"the frame-notes model with the torch engine needs PyTorch: {INSTALL_HINT}")
        return replace(self, engine=engine)


@dataclass
class FrameTrainResult:
    model: FrameModel  # the NumPy model with the best validation weights
    module: Any  # the torch module holding the same weights (None: the NumPy engine)
    valid: dict[Convention, float]
    scores: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    stopped: str = ""  # "patience", "budget", "interrupted", or "" (max_passes)
    engine: str = "torch"

    @property
    def best_pass(self) -> int:
        """The pass (1, 2, ...) whose weights were kept."""
        return 1 + int(np.argmin(self.scores)) if self.scores else 0

    @property
    def interrupted(self) -> bool:
        return self.stopped == "interrupted"


class FrameTrainee(MaskedTrainee, Protocol):
    """A MaskedTrainee that also scores ids and gives its NumPy model."""

    def target_log_probs(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray: ...

    def numpy_model(self) -> FrameModel: ...


def shifts(y: np.ndarray, transpose: int, pitches: int = PITCHES) -> np.ndarray:
    """The shifts k in [-transpose, transpose] that keep the pitches of ids y in 0..P-1."""
    notes = y[y != pitches]
    if not len(notes):
        return np.arange(-transpose, transpose + 1)
    low, high = -int(notes.min()), pitches - 1 - int(notes.max())
    return np.arange(max(-transpose, low), min(transpose, high) + 1)


def transposed(y: np.ndarray, k: int, pitches: int = PITCHES) -> np.ndarray:
    """y with every pitch moved k semitones; FRAME_END stays."""
    return np.where(y == pitches, pitches, y + k)


def batch_first(sequences: Sequence[np.ndarray], pitches: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """padded_ids as (B, L) arrays for torch."""
    inputs, targets, mask = padded_ids(sequences, pitches)
    return inputs.T.copy(), targets.T.copy(), mask.T.astype(np.float32)


def passes(
    sequences: Sequence[np.ndarray],
    batch: int,
    transpose: int,
    rng: np.random.Generator,
    pitches: int = PITCHES,
    keep_key: float = 0.0,
) -> Callable[[], Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """A function giving one pass of (B, L) batches, freshly shuffled and transposed."""

    def one_pass() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        drawn = []
        for i in rng.permutation(len(sequences)):
            y = sequences[i]
            allowed = shifts(y, transpose, pitches) if transpose else np.zeros(1, int)
            k = draw_shift(int(allowed[0]), int(allowed[-1]), keep_key, rng)
            drawn.append(transposed(y, k, pitches))
        window = batch * SORT_WINDOW
        groups = []
        for w in range(0, len(drawn), window):
            part = sorted(drawn[w : w + window], key=len)
            groups.extend(part[s : s + batch] for s in range(0, len(part), batch))
        for g in rng.permutation(len(groups)):
            yield batch_first(groups[g], pitches)

    return one_pass


def trainee_log_likelihoods(
    trainee: FrameTrainee, sequences: Sequence[np.ndarray], pitches: int = PITCHES
) -> list[np.ndarray]:
    """(T_i,) log P(x_t | x_<t) of each sequence's frames under the trainee's weights
    (batched by length: saurus.music.length_batches)."""

    def score(group: list[np.ndarray]) -> list[np.ndarray]:
        logq = trainee.target_log_probs(*batch_first(group, pitches)[:2])
        return [frame_log_likelihoods(y, logq[b, : len(y)], pitches) for b, y in enumerate(group)]

    return by_length(sequences, EVAL_BATCH, score)


def torch_log_likelihoods(
    module: Any, sequences: Sequence[np.ndarray], pitches: int = PITCHES
) -> list[np.ndarray]:
    """(T_i,) log P(x_t | x_<t) of each sequence's frames under the torch module."""
    from saurus.training.backends.torch.masked_trainee import TorchMaskedTrainee

    trainee = TorchMaskedTrainee(module, frame_vocab(pitches), log_mask(pitches), lr=0.0, clip=0.0)
    return trainee_log_likelihoods(trainee, sequences, pitches)


def new_trainee(config: FrameTrainConfig, pitches: int) -> FrameTrainee:
    """A freshly seeded model of `config` (its engine resolved) in that engine's trainee."""
    if config.engine == "numpy":
        model = create_frame_model(
            pitches,
            cell=config.family,
            hidden=config.hidden,
            layers=config.layers,
            dropout=config.dropout,
            seed=config.seed,
        )
        return NumpyFrameTrainee(model, config.lr, config.clip, np.random.default_rng([config.seed, 1]))
    from saurus.training.backends.torch.masked import new_module, use_threads
    from saurus.training.backends.torch.masked_trainee import TorchMaskedTrainee

    use_threads(config.threads)
    module = new_module(
        config.family,
        pitches + 1,
        config.seed,
        hidden=config.hidden,
        layers=config.layers,
        dropout=config.dropout,
        embed=config.embed,
        heads=config.heads,
        context=config.context,
    )
    return TorchMaskedTrainee(module, frame_vocab(pitches), log_mask(pitches), config.lr, config.clip)


def train_frames(
    train: Sequence[np.ndarray],
    valid: Sequence[np.ndarray],
    config: FrameTrainConfig = FrameTrainConfig(),
    on_progress: Callable[[Any], None] | None = None,
    pitches: int = PITCHES,
) -> FrameTrainResult:
    """Train on the (T, P) pieces of `train`, early-stopped on `valid`; the NumPy model
    with the best validation weights (those so far, after a Ctrl-C)."""
    config = config.resolved()
    train_ids, valid_ids = piece_ids(chunked(train)), piece_ids(valid)
    longest = max(len(y) for y in [*train_ids, *valid_ids])
    if config.family == "transformer" and longest > config.context:
        raise OptionError(
            f"the longest piece is {longest:,} notes and frame ends, more than the transformer's "
            f"{config.context:,} positions: give --context {longest} or more, or use a recurrent --model"
        )
    trainee = new_trainee(config, pitches)
    scored: list[dict[Convention, float]] = []  # both conventions of every evaluation

    def evaluate() -> float:
        scored.append(nll_per_frame(trainee_log_likelihoods(trainee, valid_ids, pitches)))
        return scored[-1][config.convention]

    rng = np.random.default_rng(config.seed)
    fit = fit_masked(
        trainee,
        passes(train_ids, config.batch, config.transpose, rng, pitches, config.keep_key),
        evaluate,
        lr=config.lr,
        budget_s=config.budget_s,
        patience=config.patience,
        max_passes=config.max_passes,
        on_progress=on_progress,
    )
    model = trainee.numpy_model()
    valid_nll = scored[fit.best_pass - 1]
    return FrameTrainResult(
        model,
        getattr(trainee, "module", None),
        valid_nll,
        fit.scores,
        fit.steps,
        fit.seconds,
        fit.stopped,
        config.engine,
    )


def measure_notes(
    config: FrameTrainConfig,
    train: Sequence[np.ndarray],
    rungs: Sequence[tuple[int, int]],
    pitches: int = PITCHES,
) -> dict[tuple[int, int], float]:
    """Seconds a training id costs at each (layers, hidden) rung: one step of a batch of
    median-length pieces after a warm-up step on two of them (saurus.music.frame_plan)."""
    config = config.resolved()
    ids = sorted(piece_ids(chunked(train)), key=len)
    middle = len(ids) // 2
    pieces = ids[max(0, middle - config.batch // 2) :][: config.batch]
    batch, warm = batch_first(pieces, pitches), batch_first(pieces[:2], pitches)
    count = float(batch[2].sum())
    out: dict[tuple[int, int], float] = {}
    for layers, hidden in rungs:
        trainee = new_trainee(replace(config, layers=layers, hidden=hidden), pitches)
        trainee.train_batch(warm)
        out[(layers, hidden)] = step_seconds(lambda t=trainee: t.train_batch(batch)) / count
    return out
