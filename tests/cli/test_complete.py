"""`saurus complete`: the interactive loop through a pseudo-terminal, --pick's numbers, and
the scripted (piped) mode against saurus.generation.api.complete."""

from __future__ import annotations

import fcntl
import os
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from helpers import tiny_lines_model

import saurus
from saurus.cli.complete import format_offers, likeliest, parse_choice
from saurus.files import models
from saurus.generation.api import complete
from saurus.generation.sampling import warm_up

ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[=>])")
OFFER = re.compile(r"(\d+) ('(?:[^'\\]|\\.)*'|\"[^\"]*\") (\d\.\d{3})")
UP = "\x1b[A"
TIMEOUT = 30


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    config = saurus.TrainConfig(mode="stream", iterations=60, hidden=48, batch_size=16, seq_len=32)
    path = tmp_path_factory.mktemp("complete") / "sonnets.saurus"
    saurus.save(saurus.train_file(data_dir / "sonnets.txt", config).model, path)
    return path


@pytest.fixture(scope="module")
def names_model(tmp_path_factory: pytest.TempPathFactory, dinos_path: Path) -> Path:
    config = saurus.TrainConfig(mode="lines", lowercase=True, iterations=60, hidden=32)
    path = tmp_path_factory.mktemp("complete") / "dinos.saurus"
    saurus.save(saurus.train_file(dinos_path, config).model, path)
    return path


def child_env() -> dict[str, str]:
    src = str(REPO / "src")
    return {
        **os.environ,
        "PYTHONPATH": src,
        "TERM": "dumb",
        "INPUTRC": "/dev/null",
        "OPENBLAS_NUM_THREADS": "1",
    }


def saurus_complete(*args: object) -> list[str]:
    return [sys.executable, "-m", "saurus", "complete", *map(str, args)]


class Terminal:
    """`saurus complete` on a pseudo-terminal that is its controlling terminal (so Ctrl-C
    is a SIGINT), read with what a terminal adds (\\r, escapes) taken out."""

    def __init__(self, *args: object) -> None:
        master, slave = os.openpty()
        self.proc = subprocess.Popen(
            saurus_complete(*args),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=child_env(),
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.master = master
        self.seen = ""

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def read_some(self, deadline: float) -> bool:
        """Add what the program wrote to `seen`; False at its end."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the program ended and the terminal closed
            return False
        self.seen += ESCAPES.sub("", data.decode(errors="replace")).replace("\r", "")
        return bool(data)

    def interrupt(self) -> None:
        """Ctrl-C, as a person types it: not within the microseconds between readline's
        prompt and its wait for a key, where CPython only sees it at the next key."""
        time.sleep(0.2)
        self.send("\x03")

    def expect(self, pattern: str) -> str:
        """Everything up to the end of the first match of `pattern`, taken from `seen`."""
        deadline = time.monotonic() + TIMEOUT
        while not (found := re.search(pattern, self.seen)):
            if time.monotonic() > deadline or not self.read_some(deadline):
                raise AssertionError(f"no {pattern!r} in {self.seen!r}")
        head, self.seen = self.seen[: found.end()], self.seen[found.end() :]
        return head

    def finish(self) -> int:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and self.read_some(deadline):
            pass
        os.close(self.master)
        return self.proc.wait(timeout=TIMEOUT)


def piped(stdin: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        saurus_complete(*args), input=stdin, capture_output=True, text=True, env=child_env(), timeout=TIMEOUT
    )


def greedy(path: Path, prompt: str, length: int) -> str:
    return prompt + complete(models.load(path), prompt, max_new_tokens=length, temperature=0)[0].text


def softmax_offers(path: Path, prefix: str, count: int) -> list[tuple[str, float]]:
    """The `count` likeliest next characters by the model's own logits, computed here."""
    model = models.load(path)
    logits, _ = warm_up(model, 1, model.vocab.encode(prefix))
    z = logits[0].astype(np.float64)
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    order = np.argsort(-p)[:count]
    return [(model.vocab.chars[i], float(p[i])) for i in order]


def parsed_offers(text: str) -> list[tuple[str, float]]:
    return [(eval(ch), float(p)) for _, ch, p in OFFER.findall(text)]


# --- on a terminal ---


def test_a_prompt_is_completed_and_ctrl_d_leaves(text_model: Path) -> None:
    term = Terminal(text_model, "--temperature", 0, "--length", 40)
    term.expect("> $")
    term.send("Shall I\r")
    answer = term.expect("\n> $")
    assert greedy(text_model, "Shall I", 40) + "\n" in answer
    term.send("\x04")
    assert term.finish() == 0


def test_up_arrow_recalls_the_last_prompt(text_model: Path) -> None:
    term = Terminal(text_model, "--temperature", 0, "--length", 30)
    term.expect("> $")
    term.send("From fairest\r")
    first = term.expect("\n> $")
    term.send(UP + "\r")
    again = term.expect("\n> $")
    expected = greedy(text_model, "From fairest", 30) + "\n"
    assert expected in first
    assert expected in again
    term.send("\x04")
    assert term.finish() == 0


def test_ctrl_c_cancels_the_line_and_twice_leaves_with_130(text_model: Path) -> None:
    term = Terminal(text_model, "--length", 10, "--seed", 0)
    term.expect("> $")
    term.send("half a promp")
    term.expect("promp$")
    term.interrupt()
    term.expect(r"cancelled.*\n> $")
    term.send("Love\r")
    model = models.load(text_model)
    answer = term.expect("\n> $")
    assert "half" not in answer
    assert "Love" + complete(model, "Love", max_new_tokens=10, seed=0)[0].text + "\n" in answer
    term.interrupt()
    term.expect(r"cancelled.*\n> $")
    term.interrupt()
    assert term.finish() == 130


def test_ctrl_c_cancels_a_long_generation_and_asks_again(text_model: Path) -> None:
    term = Terminal(text_model, "--length", 10**7)
    term.expect("> $")
    term.send("Then\r")
    term.expect("Then\n")  # the line is taken: the drawing has begun
    term.interrupt()
    term.expect(r"cancelled.*\n> $")
    term.send("\x04")
    assert term.finish() == 0


def test_unknown_character_is_named_and_the_loop_goes_on(text_model: Path) -> None:
    term = Terminal(text_model, "--temperature", 0, "--length", 20)
    term.expect("> $")
    term.send("Thy ☃\r")
    term.expect(r"the prompt has the character '☃'.*\n> $")
    term.send("Thy\r")
    assert greedy(text_model, "Thy", 20) in term.expect("\n> $")
    term.send("\x04")
    assert term.finish() == 0


def test_pick_offers_the_softmax_and_appends_the_chosen_number(names_model: Path) -> None:
    term = Terminal(names_model, "--pick", 4)
    term.expect("> $")
    term.send("tyr\r")
    offers = parsed_offers(term.expect("pick> $"))
    expected = softmax_offers(names_model, "tyr", 4)
    assert [c for c, _ in offers] == [c for c, _ in expected]
    np.testing.assert_allclose([p for _, p in offers], [p for _, p in expected], atol=6e-4)
    assert [p for _, p in offers] == sorted((p for _, p in offers), reverse=True)
    assert sum(p for _, p in offers) <= 1.0
    second = offers[1][0]
    term.send("2\r")
    shown = term.expect("pick> $")
    assert f"\ntyr{second}\n" in shown
    assert [c for c, _ in parsed_offers(shown)] == [
        c for c, _ in softmax_offers(names_model, "tyr" + second, 4)
    ]
    term.send(".\r")
    assert f"\ntyr{second}\n" in term.expect("\n> $")
    term.send("\x04")
    assert term.finish() == 0


def test_history_file_keeps_prompts_across_sessions(text_model: Path, tmp_path: Path) -> None:
    history = tmp_path / "history"
    history.write_text("Earlier\n")
    term = Terminal(text_model, "--temperature", 0, "--length", 5, "--history", history)
    term.expect("> $")
    term.send("Mine eye\r")
    term.expect("\n> $")
    term.send("\x04")
    assert term.finish() == 0
    assert history.read_text().splitlines() == ["Earlier", "Mine eye"]
    term = Terminal(text_model, "--temperature", 0, "--length", 5, "--history", history)
    term.expect("> $")
    term.send(UP + "\r")
    assert greedy(text_model, "Mine eye", 5) in term.expect("\n> $")
    term.send(UP + UP + UP + "\r")
    assert greedy(text_model, "Earlier", 5) in term.expect("\n> $")
    term.send("\x04")
    assert term.finish() == 0
    assert history.read_text().splitlines() == ["Earlier", "Mine eye", "Mine eye", "Earlier"]


# --- piped ---


def test_piped_prompts_match_the_api_with_the_same_seed(text_model: Path) -> None:
    result = piped("ROMEO:\nShall I\n", text_model, "--seed", 7, "--length", 50, "--top-k", 10)
    assert result.returncode == 0, result.stderr
    model = models.load(text_model)
    rng = np.random.default_rng(7)
    texts = [
        p + complete(model, p, max_new_tokens=50, top_k=10, seed=rng)[0].text for p in ("ROMEO:", "Shall I")
    ]
    assert result.stdout == texts[0] + "\n---\n" + texts[1] + "\n"
    assert texts[0] == "ROMEO:" + complete(model, "ROMEO:", max_new_tokens=50, top_k=10, seed=7)[0].text
    assert "> " not in result.stdout + result.stderr


def test_piped_names_complete_one_per_line(names_model: Path) -> None:
    result = piped("tyr\nst\n", names_model, "--seed", 3, "--temperature", 0.8)
    assert result.returncode == 0, result.stderr
    model = models.load(names_model)
    rng = np.random.default_rng(3)
    names = [
        p + complete(model, p, max_new_tokens=50, temperature=0.8, seed=rng)[0].text for p in ("tyr", "st")
    ]
    assert result.stdout.splitlines() == names


def test_piped_unknown_character_goes_on_and_ends_with_status_2(text_model: Path) -> None:
    result = piped("Thy ☃\nThy\n", text_model, "--temperature", 0, "--length", 12)
    assert result.returncode == 2
    assert result.stdout == greedy(text_model, "Thy", 12) + "\n"
    assert "'☃'" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_piped_pick_reads_choices_line_by_line(names_model: Path) -> None:
    offers = softmax_offers(names_model, "ab", 3)
    after = softmax_offers(names_model, "ab" + offers[2][0], 3)
    result = piped("ab\n3\n\n.\n", names_model, "--pick", 3)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "ab" + offers[2][0] + after[0][0]
    assert "pick> " not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pick", "3", "--seed", "1"], "--seed applies to drawn continuations"),
        (["--pick", "3", "--length", "9"], "--length applies to drawn continuations"),
        (["--temperature", "0", "--top-p", "0.5"], "--top-p has no effect"),
        (["--temperature", "-1"], "--temperature"),
        (["--pick", "0"], "--pick"),
    ],
)
def test_options_that_would_do_nothing_are_refused(names_model: Path, args: list[str], message: str) -> None:
    result = piped("a\n", names_model, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_music_models_and_model_files_as_history_are_refused(tmp_path: Path, names_model: Path) -> None:
    music = tmp_path / "music.saurus"
    models.save(tiny_lines_model(), music, extra={"music": {"tokenizer": "remi"}})
    result = piped("a\n", music)
    assert result.returncode == 2
    assert "is a music model" in result.stderr
    term = Terminal(names_model, "--history", names_model)
    assert term.finish() == 2
    assert "not a history file" in term.seen
    assert models.load(names_model).vocab.size > 0  # left as it was


# --- the pieces of --pick ---


def test_likeliest_is_the_tempered_softmax_sorted() -> None:
    logits = np.array([1.0, 3.0, 2.0, -1.0], dtype=np.float32)
    offers = likeliest(logits, 0.5, 3)
    p = np.exp(logits / 0.5) / np.exp(logits / 0.5).sum()
    assert [i for i, _ in offers] == [1, 2, 0]
    np.testing.assert_allclose([q for _, q in offers], p[[1, 2, 0]], rtol=1e-6)
    assert likeliest(logits, 0, 2) == [(1, 1.0), (0, 0.0)]
    assert len(likeliest(logits, 1.0, 99)) == 4


def test_choices_parse_numbers_enter_literals_and_stop() -> None:
    vocab = saurus.Vocab(("\n", " ", ".", "3", "a", "b"))
    offers = [(4, 0.5), (1, 0.3), (0, 0.1)]
    assert parse_choice("", vocab, offers) == "a"
    assert parse_choice("2", vocab, offers) == " "
    assert parse_choice("b", vocab, offers) == "b"
    assert parse_choice("'\\n'", vocab, offers) == "\n"
    assert parse_choice("'.'", vocab, offers) == "."
    assert parse_choice("'3'", vocab, offers) == "3"
    assert parse_choice(".", vocab, offers) is None
    with pytest.raises(saurus.OptionError, match="from 1 to 3"):
        parse_choice("4", vocab, offers)
    assert format_offers(vocab, offers) == "  1 'a' 0.500   2 ' ' 0.300   3 '\\n' 0.100"
