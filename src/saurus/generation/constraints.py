"""Constraints on whole names, compiled into one small automaton over the model's characters.

    Constraints(ends_with="saurus", max_len=8, excludes=("q",)).compile(vocab)

Each constraint is a regular language (starts_with s: s.*; ends_with s: .*s; contains s:
.*s.*; excludes s: the complement of .*s.*; min_len / max_len: .{min,max}; pattern: the
user's regular expression, matched by the whole name); the names allowed are their
intersection. interegular (a well-kept regex-to-automaton library) builds each one's
deterministic automaton and intersects them. The result becomes a dense table: state x
character id -> next state, with a dead state (no way on can match) that maps to itself,
and the states that accept a name (it may end there) and that are live (an accepting
state can still be reached).

Sampling stays exact: names are drawn from the model as they would be without constraints,
and a name is kept only when the automaton accepts it (rejection sampling); a row is given
up as soon as its prefix enters the dead state, which changes nothing but the time spent.
Masking characters step by step would skew the distribution instead.

A regular expression can need exponentially many states (`(a|b)*a(a|b){20}`): the
automaton is built in a child process, given COMPILE_SECONDS and MAX_STATES, and a
pattern past them is refused in one line, as are patterns longer than MAX_PATTERN, the
syntax interegular does not take, and constraints that no name can meet.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from saurus.data.vocab import Vocab
from saurus.errors import OptionError

MAX_PATTERN = 300  # characters of a regular expression
MAX_STRINGS = 8  # contains / excludes strings
MAX_STRING = 64  # characters of one of them
MAX_STATES = 20_000
COMPILE_SECONDS = 5.0
CHILD = r"""
import json, sys
import interegular
from interegular.fsm import FSM
job = json.loads(sys.stdin.read())
fsm = None
for regex, negate in job["parts"]:
    try:
        part = interegular.parse_pattern(regex).to_fsm()
    except Exception as err:
        print(json.dumps({"error": f"{type(err).__name__}: {err}", "regex": regex}))
        sys.exit(0)
    if negate:
        part = part.everythingbut()
    fsm = part if fsm is None else fsm & part
    if len(fsm.states) > job["max_states"]:
        print(json.dumps({"error": "states", "regex": regex}))
        sys.exit(0)
other = fsm.alphabet.get(interegular.fsm.anything_else)
classes = [fsm.alphabet[c] if c in fsm.alphabet else other for c in job["chars"]]
states = sorted(fsm.states, key=str)
index = {s: i for i, s in enumerate(states)}
table = [[index.get(fsm.map.get(s, {}).get(k), -1) if k is not None else -1 for k in classes] for s in states]
print(json.dumps({"start": index[fsm.initial], "finals": [index[s] for s in fsm.finals], "table": table}))
"""
SPECIAL = set(r"\.^$*+?{}[]|()-/")


def literal(text: str) -> str:
    """`text` as a regular expression that matches it and nothing else."""
    return "".join("\\" + c if c in SPECIAL else c for c in text)


def strings(value: str | tuple[str, ...] | list[str] | None, what: str) -> tuple[str, ...]:
    found = (value,) if isinstance(value, str) else tuple(value or ())
    if len(found) > MAX_STRINGS:
        raise OptionError(f"{what}: at most {MAX_STRINGS} strings, got {len(found)}")
    for s in found:
        if not isinstance(s, str) or not s or len(s) > MAX_STRING or "\n" in s:
            raise OptionError(f"{what}: each must be 1 to {MAX_STRING} characters on one line")
    return found


@dataclass(frozen=True)
class Constraints:
    """What a whole name must be (the prefix it is drawn after included)."""

    starts_with: str = ""
    ends_with: str = ""
    contains: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    min_len: int | None = None
    max_len: int | None = None
    pattern: str | None = None
    parts: tuple[tuple[str, bool], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("starts_with", "ends_with"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_STRING or "\n" in value:
                raise OptionError(f"{name} must be at most {MAX_STRING} characters on one line")
        object.__setattr__(self, "contains", strings(self.contains, "contains"))
        object.__setattr__(self, "excludes", strings(self.excludes, "excludes"))
        for name in ("min_len", "max_len"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise OptionError(f"{name} must be a whole number of at least 1")
        if self.min_len and self.max_len and self.min_len > self.max_len:
            raise OptionError(f"min_len ({self.min_len}) is above max_len ({self.max_len}): no name fits")
        if self.pattern is not None:
            if not isinstance(self.pattern, str) or not self.pattern:
                raise OptionError("pattern must be a non-empty regular expression")
            if len(self.pattern) > MAX_PATTERN:
                raise OptionError(f"pattern is {len(self.pattern)} characters long; at most {MAX_PATTERN}")
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise OptionError(f"pattern is not a regular expression: {err}") from None
        object.__setattr__(self, "parts", self.regexes())

    def regexes(self) -> tuple[tuple[str, bool], ...]:
        """Each constraint as (regular expression, whether its complement is meant)."""
        parts: list[tuple[str, bool]] = []
        if self.starts_with:
            parts.append((literal(self.starts_with) + ".*", False))
        if self.ends_with:
            parts.append((".*" + literal(self.ends_with), False))
        parts += [(".*" + literal(s) + ".*", False) for s in self.contains]
        single = [s for s in self.excludes if len(s) == 1]
        if single:
            parts.append(("[^" + "".join(literal(c) for c in single) + "]*", False))
        parts += [(".*" + literal(s) + ".*", True) for s in self.excludes if len(s) > 1]
        if self.min_len or self.max_len:
            parts.append((f".{{{self.min_len or 0},{self.max_len or ''}}}", False))
        if self.pattern:
            parts.append((self.pattern, False))
        return tuple(parts)

    @classmethod
    def from_fields(cls, given: object, **changes: object) -> Constraints:
        """From any object with the fields' names as attributes (parsed options, a request),
        lists as tuples; `changes` replace some."""
        names = ("ends_with", "contains", "excludes", "min_len", "max_len", "pattern")
        values = {name: getattr(given, name, None) for name in names} | changes
        for name in ("contains", "excludes"):
            values[name] = tuple(values[name] or ())
        values["ends_with"] = values["ends_with"] or ""
        return cls(**values)  # type: ignore[arg-type]

    @property
    def empty(self) -> bool:
        return not self.parts

    def describe(self) -> str:
        said = []
        for name in ("starts_with", "ends_with", "min_len", "max_len", "pattern"):
            if getattr(self, name):
                said.append(f"{name} {getattr(self, name)!r}")
        said += [f"contains {s!r}" for s in self.contains] + [f"excludes {s!r}" for s in self.excludes]
        return ", ".join(said)

    def compile(self, vocab: Vocab) -> Automaton:
        """The automaton over `vocab`'s characters (the end token leads nowhere)."""
        return compiled(self.parts, tuple(vocab.chars), self.describe())


@dataclass(frozen=True)
class Automaton:
    """delta[state, id] -> state; state `dead` (the last) maps to itself."""

    delta: np.ndarray  # (S + 1, V) int32
    accepting: np.ndarray  # (S + 1,) bool
    live: np.ndarray  # (S + 1,) bool
    start: int

    @property
    def dead(self) -> int:
        return len(self.accepting) - 1

    def run(self, ids: np.ndarray | list[int], state: int | None = None) -> int:
        """The state after reading `ids` from `state` (the start by default)."""
        at = self.start if state is None else state
        for i in ids:
            at = int(self.delta[at, int(i)])
        return at

    def accepts(self, ids: np.ndarray | list[int]) -> bool:
        return bool(self.accepting[self.run(ids)])


@lru_cache(maxsize=64)
def compiled(parts: tuple[tuple[str, bool], ...], chars: tuple[str, ...], said: str) -> Automaton:
    job = {"parts": list(parts), "chars": [c if c != "\n" else None for c in chars], "max_states": MAX_STATES}
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=COMPILE_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise OptionError(
            f"the constraints ({said}) need more than {COMPILE_SECONDS:g} s to compile: "
            "the pattern is too complex (e.g. a long run after a repeated choice); simplify it"
        ) from None
    if done.returncode != 0 or not done.stdout.strip():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise OptionError(f"cannot compile the constraints ({said}): {last[:200]}")
    found = json.loads(done.stdout)
    if found.get("error") == "states":
        raise OptionError(
            f"the constraints ({said}) need more than {MAX_STATES:,} automaton states; simplify the pattern"
        )
    if "error" in found:
        raise OptionError(f"the pattern {found['regex']!r} is not one saurus can use: {found['error'][:200]}")
    return automaton_of(found["table"], found["finals"], found["start"], said)


def automaton_of(table: list[list[int]], finals: list[int], start: int, said: str) -> Automaton:
    """The dense table with a dead state, and the live states (those from which an
    accepting state can be reached), found backwards from the accepting ones."""
    states = len(table)
    delta = np.array(table, dtype=np.int32).reshape(states, -1)
    delta = np.where(delta < 0, states, delta)
    delta = np.vstack([delta, np.full((1, delta.shape[1]), states, dtype=np.int32)])
    accepting = np.zeros(states + 1, dtype=bool)
    accepting[finals] = True
    live = accepting.copy()
    while True:
        more = live | live[delta].any(axis=1)
        more[states] = False
        if (more == live).all():
            break
        live = more
    dead = np.flatnonzero(~live)
    delta[np.isin(delta, dead)] = states  # a state that cannot reach acceptance is dead
    if not live[start]:
        raise OptionError(f"no name can meet the constraints ({said}) with this model's characters")
    return Automaton(delta, accepting, live, start)
