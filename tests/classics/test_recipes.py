"""The recipe presets: `reproduce jaychou` (d2l) and `reproduce minchar` (min-char-rnn).

Each recipe's short run is compared with an independent re-implementation of the same
arithmetic written here, the way the originals write it (one-hot vectors, loops over time
steps, dictionaries of states), from the same seed: the numbers must agree to 1e-10.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from saurus.classics import jaychou, minchar
from saurus.classics.common import encode, sorted_vocab
from saurus.cli.main import main
from saurus.data.datasets import load_dataset_text

TEXT = (
    "The quick brown fox jumps over the lazy dog.\nShe sells sea shells by the sea shore;\n"
    "a stitch in time saves nine, and many hands make light work.\n"
) * 3


@pytest.fixture(scope="module")
def jay_text(data_dir: Path) -> str:
    if not (data_dir / "jaychou_lyrics.txt.zip").is_file():
        pytest.fail(f"jaychou_lyrics.txt.zip is missing from {data_dir}")
    return load_dataset_text("jaychou", download=False)


def run_cli(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str, str]:
    """`saurus ARGS` in this process: exit status, stdout, stderr (parser errors included)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ---------------------------------------------------------------- d2l, written as d2l does


def d2l_run(ids: list[int], V: int, setup: jaychou.JaychouSetup, random_iter: bool) -> list[float]:
    """d2l's train_and_predict_rnn with lists of one-hot matrices, per-step loops and
    explicit gradients; returns the perplexity of every epoch."""
    rng = np.random.default_rng(setup.seed)
    H, T, B = setup.hidden, setup.num_steps, setup.batch_size
    W_xh = rng.normal(0.0, 0.01, (V, H))
    W_hh = rng.normal(0.0, 0.01, (H, H))
    W_hq = rng.normal(0.0, 0.01, (H, V))
    params = [W_xh, W_hh, np.zeros(H), W_hq, np.zeros(V)]
    perplexities = []
    for _ in range(setup.epochs):
        if random_iter:
            num_examples = (len(ids) - 1) // T
            order = list(rng.permutation(num_examples))
            batches = []
            for i in range(num_examples // B):
                chosen = order[i * B : (i + 1) * B]
                batches.append(
                    (
                        [ids[j * T : j * T + T] for j in chosen],
                        [ids[j * T + 1 : j * T + T + 1] for j in chosen],
                    )
                )
        else:
            batch_len = len(ids) // B
            rows = [ids[r * batch_len : (r + 1) * batch_len] for r in range(B)]
            batches = [
                ([row[i * T : i * T + T] for row in rows], [row[i * T + 1 : i * T + T + 1] for row in rows])
                for i in range((batch_len - 1) // T)
            ]
        state = np.zeros((B, H))
        l_sum, n = 0.0, 0
        for X, Y in batches:
            if random_iter:
                state = np.zeros((B, H))
            l, grads, state = d2l_step(params, np.array(X), np.array(Y), state, V)
            norm = math.sqrt(sum((g**2).sum() for g in grads))
            if norm > setup.clip:
                grads = [g * setup.clip / norm for g in grads]
            for p, g in zip(params, grads, strict=True):
                p -= setup.lr * g
            l_sum += l * T * B
            n += T * B
        perplexities.append(math.exp(l_sum / n))
    return perplexities


def d2l_step(params: list[np.ndarray], X: np.ndarray, Y: np.ndarray, state: np.ndarray, V: int):
    W_xh, W_hh, b_h, W_hq, b_q = params
    T = X.shape[1]
    inputs = [np.eye(V)[X[:, t]] for t in range(T)]  # to_onehot: T matrices (B, V)
    hs, outputs = [state], []
    for x in inputs:
        hs.append(np.tanh(x @ W_xh + hs[-1] @ W_hh + b_h))
        outputs.append(hs[-1] @ W_hq + b_q)
    outputs_cat = np.concatenate(outputs, axis=0)
    y = Y.T.reshape(-1)
    probs = np.exp(outputs_cat) / np.exp(outputs_cat).sum(axis=1, keepdims=True)
    l = -np.log(probs[np.arange(len(y)), y]).mean()
    dout = probs.copy()
    dout[np.arange(len(y)), y] -= 1
    dout /= len(y)
    g = [np.zeros_like(p) for p in params]
    dh_next = np.zeros_like(state)
    for t in reversed(range(T)):
        do = dout[t * len(X) : (t + 1) * len(X)]
        g[3] += hs[t + 1].T @ do
        g[4] += do.sum(axis=0)
        dh = do @ W_hq.T + dh_next
        draw = dh * (1 - hs[t + 1] ** 2)
        g[0] += inputs[t].T @ draw
        g[1] += hs[t].T @ draw
        g[2] += draw.sum(axis=0)
        dh_next = draw @ W_hh.T
    return l, g, hs[-1]


@pytest.mark.parametrize("sampling", jaychou.SAMPLINGS)
def test_jaychou_matches_a_loop_reimplementation(jay_text: str, sampling: str) -> None:
    lyrics = jaychou.load_lyrics(jay_text, 600)
    setup = jaychou.JaychouSetup(epochs=3, hidden=24, num_steps=7, batch_size=4, seed=3, period=100)
    ours = [r.perplexity for r in jaychou.train_and_predict(lyrics, setup, sampling)]
    theirs = d2l_run(list(lyrics.indices), lyrics.vocab_size, setup, sampling == "random")
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=0)
    assert ours[-1] < ours[0]


def test_jaychou_corpus_is_d2ls(jay_text: str) -> None:
    lyrics = jaychou.load_lyrics(jay_text)
    assert lyrics.vocab_size == 1027
    assert len(lyrics.indices) == 10000
    assert list(lyrics.idx_to_char) == sorted(lyrics.idx_to_char)
    chars = jay_text.replace("\n", " ").replace("\r", " ")[:10000]
    assert lyrics.decode(list(lyrics.indices)) == chars
    assert lyrics.decode(list(lyrics.indices[:4])) == "想要有直"


def test_jaychou_batches_cover_what_d2l_covers() -> None:
    ids = np.arange(10000)
    rng = np.random.default_rng(0)
    random_batches = list(jaychou.data_iter_random(ids, 32, 35, rng))
    consecutive = list(jaychou.data_iter_consecutive(ids, 32, 35))
    assert len(random_batches) == len(consecutive) == 8  # 285 // 32 and (312 - 1) // 35
    starts = np.concatenate([X[:, 0] for X, _ in random_batches])
    assert len(set(starts)) == 256 and all(s % 35 == 0 for s in starts)
    X, Y = consecutive[1]
    assert X[1, 0] == 312 + 35 and (Y == X + 1).all()


def test_jaychou_prediction_feeds_the_prefix_then_argmax() -> None:
    lyrics = jaychou.Lyrics(np.array([0, 1, 2, 0]), ("a", "b", "c"))
    params = jaychou.init_params(3, 4, np.random.default_rng(0))
    params["b_q"][:] = [0.0, 0.0, 5.0]  # "c" is always the likeliest
    assert jaychou.predict_rnn(params, "ab", 3, lyrics) == "abccc"


def test_reproduce_jaychou_prints_periods_and_prefixes(capsys: pytest.CaptureFixture, jay_text: str) -> None:
    code, out, err = run_cli(capsys, "reproduce", "jaychou", "--epochs", "2", "--every", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "vocab_size 1027, corpus of 10000 characters"
    assert lines.count("random sampling") == lines.count("consecutive sampling") == 1
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 4
    for line in epochs:
        assert re.fullmatch(r"epoch [12], perplexity \d+\.\d{6}, time \d+\.\d\d sec", line), line
    assert sum(line.startswith(" - 分开") for line in lines) == 4
    assert sum(line.startswith(" - 不分开") for line in lines) == 4
    assert len(lines) == 1 + 2 + 4 * 3
    assert "2 epochs of random and consecutive sampling" in err


def test_reproduce_jaychou_on_a_file_and_its_mistakes(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = tmp_path / "text.txt"
    path.write_text(TEXT * 4)
    args = ("reproduce", "jaychou", "--data", path, "--hidden", "8", "--epochs", "1", "--prefix", "Th")
    code, out, err = run_cli(capsys, *args, "--sampling", "consecutive")
    assert code == 0, err
    assert out.splitlines()[1:] == ["consecutive sampling", out.splitlines()[2], out.splitlines()[3]]
    assert out.splitlines()[3].startswith(" - Th") and len(out.splitlines()[3]) == len(" - Th") + 50
    assert_one_line_error(*run_cli(capsys, *args, "--prefix", "分")[::2], "'分'", "not in the corpus")
    assert_one_line_error(*run_cli(capsys, *args[:-2], "--chars", "500")[::2], "needs at least 1121")
    assert_one_line_error(*run_cli(capsys, *args, "--epochs", "0")[::2], "--epochs", "positive")
    assert_one_line_error(*run_cli(capsys, *args, "--hidden", "100000000")[::2], "memory", "--hidden")


# --------------------------------------------------------- min-char-rnn, written as the gist


def gist_run(data: str, setup: minchar.MinCharSetup) -> list[tuple[float, float, str | None]]:
    """The gist's script (with a sorted vocabulary and RandomState for np.random), for
    setup.iterations iterations: (loss, smooth_loss, sample) of each."""
    rs = np.random.RandomState(setup.seed)
    chars = sorted(set(data))
    vocab_size = len(chars)
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    hidden_size, seq_length, learning_rate = setup.hidden, setup.seq_length, setup.lr
    Wxh = rs.randn(hidden_size, vocab_size) * 0.01
    Whh = rs.randn(hidden_size, hidden_size) * 0.01
    Why = rs.randn(vocab_size, hidden_size) * 0.01
    bh, by = np.zeros((hidden_size, 1)), np.zeros((vocab_size, 1))

    def loss_fun(inputs, targets, hprev):
        xs, hs, ys, ps = {}, {}, {}, {}
        hs[-1] = np.copy(hprev)
        loss = 0
        for t in range(len(inputs)):
            xs[t] = np.zeros((vocab_size, 1))
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
            ys[t] = np.dot(Why, hs[t]) + by
            ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
            loss += -np.log(ps[t][targets[t], 0])
        dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
        dbh, dby = np.zeros_like(bh), np.zeros_like(by)
        dhnext = np.zeros_like(hs[0])
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1
            dWhy += np.dot(dy, hs[t].T)
            dby += dy
            dh = np.dot(Why.T, dy) + dhnext
            dhraw = (1 - hs[t] * hs[t]) * dh
            dbh += dhraw
            dWxh += np.dot(dhraw, xs[t].T)
            dWhh += np.dot(dhraw, hs[t - 1].T)
            dhnext = np.dot(Whh.T, dhraw)
        for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
            np.clip(dparam, -5, 5, out=dparam)
        return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]

    def sample(h, seed_ix, n):
        x = np.zeros((vocab_size, 1))
        x[seed_ix] = 1
        ixes = []
        for _ in range(n):
            h = np.tanh(np.dot(Wxh, x) + np.dot(Whh, h) + bh)
            y = np.dot(Why, h) + by
            p = np.exp(y) / np.sum(np.exp(y))
            ix = rs.choice(range(vocab_size), p=p.ravel())
            x = np.zeros((vocab_size, 1))
            x[ix] = 1
            ixes.append(ix)
        return ixes

    n, p = 0, 0
    mems = [np.zeros_like(w) for w in (Wxh, Whh, Why, bh, by)]
    smooth_loss = -np.log(1.0 / vocab_size) * seq_length
    out = []
    while n < setup.iterations:
        if p + seq_length + 1 >= len(data) or n == 0:
            hprev = np.zeros((hidden_size, 1))
            p = 0
        inputs = [char_to_ix[ch] for ch in data[p : p + seq_length]]
        targets = [char_to_ix[ch] for ch in data[p + 1 : p + seq_length + 1]]
        txt = None
        if n % setup.every == 0:
            txt = "".join(chars[ix] for ix in sample(hprev, inputs[0], setup.sample_len))
        loss, dWxh, dWhh, dWhy, dbh, dby, hprev = loss_fun(inputs, targets, hprev)
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        out.append((loss, smooth_loss, txt))
        for param, dparam, mem in zip(
            [Wxh, Whh, Why, bh, by], [dWxh, dWhh, dWhy, dbh, dby], mems, strict=True
        ):
            mem += dparam * dparam
            param += -learning_rate * dparam / np.sqrt(mem + 1e-8)
        p += seq_length
        n += 1
    return out


def test_minchar_matches_the_gist() -> None:
    setup = minchar.MinCharSetup(iterations=50, every=10, seed=5)
    ours = list(minchar.train(TEXT, setup))
    theirs = gist_run(TEXT, setup)
    assert len(TEXT) < 25 * 50  # the pointer wraps (and h is reset) within the run
    np.testing.assert_allclose([r.loss for r in ours], [t[0] for t in theirs], rtol=1e-10, atol=0)
    np.testing.assert_allclose([r.smooth_loss for r in ours], [t[1] for t in theirs], rtol=1e-10, atol=0)
    assert [r.sample for r in ours] == [t[2] for t in theirs]
    assert sum(r.sample is not None for r in ours) == 5
    assert np.mean([r.loss for r in ours[-10:]]) < np.mean([r.loss for r in ours[:10]])


def test_minchar_starts_from_the_uniform_loss() -> None:
    first = next(minchar.train(TEXT, minchar.MinCharSetup(iterations=1)))
    V = len(set(TEXT))
    assert first.n == 0 and len(first.sample or "") == 200
    assert first.smooth_loss == pytest.approx(0.999 * 25 * math.log(V) + 0.001 * first.loss, rel=1e-12)
    assert first.loss == pytest.approx(25 * math.log(V), rel=1e-3)  # weights of 0.01 give near-uniform p


def test_encode_uses_the_sorted_vocabulary() -> None:
    vocab = sorted_vocab("banana 分开")
    assert vocab == (" ", "a", "b", "n", "分", "开")
    assert encode("分a b", vocab).tolist() == [4, 1, 0, 2]


def test_reproduce_minchar_prints_like_the_gist(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    code, out, err = run_cli(capsys, "reproduce", "minchar", path, "--iterations", "21", "--every", "10")
    assert code == 0, err
    assert out.startswith(f"data has {len(TEXT)} characters, {len(set(TEXT))} unique.\n----\n ")
    assert re.findall(r"^iter (\d+), loss \d+\.\d{6}$", out, re.M) == ["0", "10", "20"]
    assert out.count("\n----\n") == 6 and " \n----\niter 20" in out
    assert "21 iterations in" in err


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("missing.txt",), ("no such file",)),
        (("text.txt", "--iterations", "0"), ("--iterations", "positive")),
        (("one.txt",), ("has 1 characters", "at least 26")),
        (("text.txt", "--hidden", "100000000"), ("memory", "--hidden")),
        (("nodataset",), ("no such file or dataset",)),
    ],
)
def test_reproduce_minchar_mistakes(
    capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args, fragments
) -> None:
    (tmp_path / "text.txt").write_text(TEXT)
    (tmp_path / "one.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(*run_cli(capsys, "reproduce", "minchar", *args)[::2], *fragments)


def test_reproduce_minchar_error_as_a_user_sees_it(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "saurus", "reproduce", "minchar", str(tmp_path / "one.txt")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("saurus reproduce minchar: error: ")
