"""`saurus complete MODEL`: the Shakespeare machine, interactive.

On a terminal it is a loop with line editing and history (readline): type a prompt, read
the model's continuation, and type the next; Ctrl-D leaves, Ctrl-C cancels the line (or
the generation) and asks again, and a second Ctrl-C in a row leaves with status 130.
Piped, it completes each line of standard input and prints the prompt and its
continuation, so it can be scripted. `--pick N` lets the user write the continuation:
it offers the N likeliest next characters, with their probabilities, to choose from.

Continuations come from saurus.generation.api.complete; a `--seed` seeds one generator
for the whole session, so the same prompts in the same order give the same texts.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from saurus.cli.args import (
    DECODING_FLAGS,
    EXIT_USAGE,
    add_command,
    add_decoding_options,
    positive_int,
    refuse,
    say,
    seed_value,
)
from saurus.cli.sample import load_text_model
from saurus.data.corpus import normalise
from saurus.data.vocab import EOS, Vocab
from saurus.errors import DataError, OptionError, SaurusError, VocabularyError, os_reason
from saurus.files.outputs import is_model_file
from saurus.generation.api import complete
from saurus.generation.decoding import Decoding
from saurus.generation.sampling import DEFAULT_MAX_LEN, DEFAULT_TEXT_LENGTH, scaled, warm_up
from saurus.protocol import SequenceModel

PROMPT = "> "
PICK_PROMPT = "pick> "
PICK_HELP = "(a number, Enter for 1, a character, or '.' to end)"
MAX_HISTORY_BYTES = 16 * 1024**2
OFFERS_PER_ROW = 6
SHOWN_TAIL = 60  # characters of the text so far shown above the offers


COMPLETE_USAGE = """\
complete prompts with a text model, interactively (or each line of standard input)
saurus complete shakespeare
saurus complete sonnets.saurus --temperature 0.7 --seed 1 --history ~/.saurus_history
echo 'ROMEO:' | saurus complete shakespeare --length 300 --seed 0
saurus complete dinos --pick 5
"""


@dataclass(frozen=True)
class Drawing:
    """How continuations are drawn (api.complete's options)."""

    length: int | None  # None: the default for the model's mode
    temperature: float  # 0: greedy
    top_k: int
    top_p: float


def add_complete_command(sub: argparse._SubParsersAction) -> None:
    """Register `saurus complete`."""
    p = add_command(sub, "complete", COMPLETE_USAGE)
    p.add_argument("model", type=Path, help="a model file written by saurus train, or a pretrained name")
    p.add_argument(
        "--length",
        type=positive_int,
        help=f"most characters to add (default: {DEFAULT_TEXT_LENGTH} for text; "
        f"names end by themselves, at {DEFAULT_MAX_LEN} at most)",
    )
    add_decoding_options(p, zero=True)
    p.add_argument("--seed", type=seed_value, help="seed for a repeatable session (default: random)")
    p.add_argument(
        "--pick",
        type=positive_int,
        metavar="N",
        help="choose each next character yourself from the N likeliest, shown with their probabilities",
    )
    p.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help="keep the prompts' history in FILE across sessions (default: this session only)",
    )
    p.set_defaults(run=cmd_complete)


def cmd_complete(args: argparse.Namespace) -> int:
    drawing = checked_drawing(args)
    if sys.stdin is None:
        raise DataError("standard input is closed; there are no prompts to read")
    model = load_text_model(args.model)
    console = Console(sys.stdin.isatty(), args.history)
    try:
        if args.pick is not None:
            return console.loop(lambda prompt: pick(model, prompt, args.pick, drawing.temperature, console))
        rng = np.random.default_rng(args.seed)
        separate = model.mode == "stream" and not console.interactive
        return console.loop(lambda prompt: completed(model, prompt, drawing, rng), separate=separate)
    finally:
        console.close()


def checked_drawing(args: argparse.Namespace) -> Drawing:
    """The drawing options, refusing those that would have no effect."""
    temperature = 1.0 if args.temperature is None else args.temperature
    given = {"--top-k": args.top_k, "--top-p": args.top_p}
    if args.pick is not None:
        for flag, value in {"--length": args.length, "--seed": args.seed, **given}.items():
            if value is not None:
                refuse(flag, "drawn continuations", "with --pick you choose every character")
        return Drawing(args.length, temperature, 0, 1.0)
    how = Decoding.from_options(args.temperature, args.top_k, args.top_p, flags=DECODING_FLAGS)
    return Drawing(args.length, 0.0 if how.greedy else how.temperature, how.top_k, how.top_p)


def completed(model: SequenceModel, prompt: str, drawing: Drawing, rng: np.random.Generator) -> str:
    """The prompt and one continuation of it, drawn from the session's generator."""
    model.vocab.check(normalise(prompt, lowercase=model.lowercase), "the prompt")
    default = DEFAULT_MAX_LEN if model.mode == "lines" else DEFAULT_TEXT_LENGTH
    (completion,) = complete(
        model,
        prompt,
        max_new_tokens=drawing.length or default,
        temperature=drawing.temperature,
        top_k=drawing.top_k,
        top_p=drawing.top_p,
        num_return_sequences=1,
        seed=rng,  # a Generator: the session goes on drawing from it
    )
    return prompt + completion.text


class Console:
    """Where prompts come from: a terminal (readline: editing and history) or a stream."""

    def __init__(self, interactive: bool, history: Path | None) -> None:
        self.interactive = interactive
        self.history = history if interactive else None
        self.readline = open_readline(self.history) if interactive else None
        self.loaded = self.readline.get_current_history_length() if self.readline else 0
        self.line_number = 0

    def ask(self, prompt: str, *, remember: bool = False) -> str:
        """The next line, without its newline; EOFError at the end, KeyboardInterrupt on Ctrl-C."""
        if not self.interactive:
            return self.next_piped_line()
        if sys.stdout.isatty():
            line = input(prompt)
        else:  # the text goes to a file: the prompt to the terminal
            sys.stderr.write(prompt)
            sys.stderr.flush()
            line = input()
        if remember and line and self.readline is not None:
            self.readline.add_history(line)
        return line

    def next_piped_line(self) -> str:
        raw = sys.stdin.buffer.readline()
        if not raw:
            raise EOFError
        self.line_number += 1
        try:
            return raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
        except UnicodeDecodeError:
            raise DataError(f"line {self.line_number} of standard input is not UTF-8") from None

    def loop(self, answer: Callable[[str], str], *, separate: bool = False) -> int:
        """Ask for prompts and print `answer(prompt)` for each, until the end of the input.
        Piped, a refused prompt makes the exit status 2 once every line is done."""
        failed, printed, interrupted = False, False, False
        while True:
            try:
                prompt = self.ask(PROMPT, remember=True)
                interrupted = False
                if not prompt:
                    continue
                text = answer(prompt)
            except EOFError:
                if self.interactive:
                    print()
                return EXIT_USAGE if failed and not self.interactive else 0
            except KeyboardInterrupt:
                if not self.interactive or interrupted:
                    raise
                interrupted = True
                print("\n(cancelled; Ctrl-D or another Ctrl-C leaves)", flush=True)
                continue
            except SaurusError as err:
                failed = True
                say(f"saurus complete: {err}")
                continue
            sys.stdout.write(("---\n" if separate and printed else "") + text + "\n")
            sys.stdout.flush()
            printed = True

    def close(self) -> None:
        """Add this session's prompts to the --history file, if one was given (appended, so
        nothing the file held is lost; a failure is a warning, as the session is over)."""
        if self.readline is None or self.history is None:
            return
        new = self.readline.get_current_history_length() - self.loaded
        try:
            if not self.history.exists():
                self.readline.write_history_file(str(self.history))
            elif new > 0:
                self.readline.append_history_file(new, str(self.history))
        except OSError as err:
            say(f"saurus complete: warning: cannot write the history to {self.history}: {os_reason(err)}")


def open_readline(history: Path | None) -> ModuleType | None:
    """readline set up for prompts: only prompts enter the history (not --pick's choices),
    Tab types a tab, and `history`'s earlier prompts are loaded. None where there is none."""
    try:
        import readline
    except ImportError:
        return None
    readline.set_auto_history(False)
    readline.parse_and_bind("tab: self-insert")
    if history is not None:
        check_history(history)
        if history.exists():
            try:
                readline.read_history_file(str(history))
            except OSError as err:
                raise DataError(f"cannot read the history {history}: {os_reason(err)}") from None
    return readline


def check_history(path: Path) -> None:
    """Refuse a --history file that is not one (a model, a binary file), as the session's
    prompts are added to it at the end."""
    if not path.exists():
        if not path.parent.is_dir():
            raise OptionError(f"--history {path}: the folder {path.parent} does not exist")
        return
    if not path.is_file():
        raise OptionError(f"--history {path} is not a regular file")
    if is_model_file(path) or path.stat().st_size > MAX_HISTORY_BYTES:
        raise OptionError(f"--history {path} is not a history file; give a new file or a history")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    except OSError as err:
        raise DataError(f"cannot read the history {path}: {os_reason(err)}") from None
    if "\x00" in text:
        raise OptionError(f"--history {path} is not a history file; give a new file or a history")


# --- --pick: the user chooses every character ---


def likeliest(logits: np.ndarray, temperature: float, count: int) -> list[tuple[int, float]]:
    """The `count` likeliest next ids, with their probabilities softmax(logits / T), most
    likely first (T = 0: all the probability on the likeliest)."""
    if temperature == 0:
        p = np.zeros(len(logits))
        p[int(np.argmax(logits))] = 1.0
    else:
        e = np.exp(scaled(logits[None, :].astype(np.float64), temperature))[0]
        p = e / e.sum()
    order = np.argsort(-p, kind="stable")[:count]
    return [(int(i), float(p[i])) for i in order]


def shown(ch: str) -> str:
    """A character as the offers show it: quoted, newlines and spaces visible."""
    return repr(ch)


def format_offers(vocab: Vocab, offers: list[tuple[int, float]]) -> str:
    """`1 ' ' 0.312  2 'e' 0.120 ...`, OFFERS_PER_ROW to a line."""
    items = [f"{n} {shown(vocab.chars[i])} {p:.3f}" for n, (i, p) in enumerate(offers, 1)]
    rows = [items[k : k + OFFERS_PER_ROW] for k in range(0, len(items), OFFERS_PER_ROW)]
    return "\n".join("  " + "   ".join(row) for row in rows)


def tail(text: str) -> str:
    """The end of the text so far on one line, newlines shown as \\n."""
    visible = text.replace("\n", "\\n")
    return visible if len(visible) <= SHOWN_TAIL else "…" + visible[-SHOWN_TAIL:]


def parse_choice(answer: str, vocab: Vocab, offers: list[tuple[int, float]]) -> str | None:
    """What the user chose: Enter the first offer, a number that offer, '.' to stop (None),
    or text to type itself ('x' quoted as the offers show it: '.', '3', '\\n')."""
    if answer == "":
        return vocab.chars[offers[0][0]]
    if answer == ".":
        return None
    if answer.isdigit():
        number = int(answer)
        if not 1 <= number <= len(offers):
            raise OptionError(f"choose a number from 1 to {len(offers)} (or type '{answer}' with quotes)")
        return vocab.chars[offers[number - 1][0]]
    if len(answer) >= 2 and answer[0] == answer[-1] and answer[0] in "'\"":
        try:
            literal = ast.literal_eval(answer)
        except (ValueError, SyntaxError):
            literal = None
        if isinstance(literal, str) and literal:
            return literal
    return answer


def pick(model: SequenceModel, prompt: str, count: int, temperature: float, console: Console) -> str:
    """The prompt, continued character by character as the user picks; ends with '.', the
    end of the input, or (names) the end token."""
    vocab = model.vocab
    prompt = normalise(prompt, lowercase=model.lowercase)
    vocab.check(prompt, "the prompt")
    logits, state = warm_up(model, 1, vocab.encode(prompt))
    text = prompt
    if console.interactive:
        print(PICK_HELP)
    while True:
        offers = likeliest(logits[0], temperature, count)
        print(tail(text))
        print(format_offers(vocab, offers), flush=True)
        try:
            choice = chosen(console, vocab, offers, model.lowercase)
        except EOFError:
            choice = None
        if choice is None:
            return text
        if model.mode == "lines" and EOS in choice:
            return text + choice.split(EOS)[0]
        for i in vocab.encode(choice):
            logits, state = model.step(state, np.array([i], dtype=np.int64))
        text += choice


def chosen(console: Console, vocab: Vocab, offers: list[tuple[int, float]], lowercase: bool) -> str | None:
    """Ask until the answer is a choice the model can read, or None to stop (a mistake is
    said, not fatal)."""
    while True:
        try:
            choice = parse_choice(console.ask(PICK_PROMPT), vocab, offers)
            if choice is None:
                return None
            choice = normalise(choice, lowercase=lowercase)
            vocab.check(choice, "the choice")
            return choice
        except (OptionError, VocabularyError) as err:
            say(f"saurus complete: {err}")
