"""Malformed text, fuzzed (hypothesis): any Unicode, lone surrogates included, empty lines,
CRLF and CR, byte-order marks, NUL, arbitrary bytes and huge lines, through the vocabulary,
the corpora, sampling and scoring. Each call either returns what it promises or raises a
SaurusError of one line; nothing else (no traceback, no NaN score, no sample that drops
its prefix).

The examples come from a fixed seed (derandomize), so every run tries the same cases;
The default run tries a quarter of the long tier's cases (SAURUS_FUZZ_SCALE=1);
SAURUS_FUZZ_SCALE=20 tries twenty times as many (a new run of the same properties).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES, tiny_lines_model, tiny_stream_model
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from saurus.data.corpus import (
    MAX_LINE_CHARS,
    LinesCorpus,
    StreamCorpus,
    decode_text,
    make_corpus,
    normalise,
    read_text,
    stripped_lines,
)
from saurus.data.vocab import EOS, Vocab, is_surrogate
from saurus.errors import DataError, ModelFileError, OptionError, SaurusError, VocabularyError
from saurus.generation.sampling import MAX_NAME_LEN, generate_lines, generate_text
from saurus.generation.scoring import score_strings
from saurus.generation.unknown_chars import drop_unknown, prepare_scored
from saurus.models.recurrent import CharModel
from saurus.models.transformer import TransformerModel
from saurus.protocol import SequenceModel

SCALE = float(os.environ.get("SAURUS_FUZZ_SCALE", "0.25"))  # the long tier: 1
# hypothesis keeps a cache of constants; outside the repository, not in ./.hypothesis
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir(), "saurus-hypothesis")))


def examples(n: int) -> int:
    return max(1, round(n * SCALE))


FUZZ = settings(
    derandomize=True,  # a fixed seed: the same cases every run
    database=None,  # and no .hypothesis folder left in the repository
    deadline=None,  # the machine is shared; hangs are caught by the suite's own timings
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=False,
)


def one_line(err: BaseException) -> str:
    """The error's message, which must be one non-empty line (no line break of any kind)."""
    message = str(err)
    assert message and message.splitlines() == [message], repr(message)
    assert "Traceback" not in message
    return message


# --- strategies -----------------------------------------------------------------------------

# characters that break naive text handling: line breaks of every kind, BOM, NUL, whitespace
# that str.strip() removes, characters whose lowercase is longer, astral and combining ones
AWKWARD = "\n\r\t \x00\ufeff\u2028\u2029\x85\x0b\x0c\x1c\u3000\u00a0İßẞﬁΣ\U0001f600\u0301\uffff\U0010ffff"
surrogates = st.integers(0xD800, 0xDFFF).map(chr)
any_char = st.one_of(
    st.characters(exclude_categories=()),  # every code point, surrogates included
    st.sampled_from(AWKWARD),
    st.sampled_from("anbocx"),
    surrogates,
)
clean_char = st.one_of(
    st.characters(exclude_categories=("Cs",)), st.sampled_from(AWKWARD), st.sampled_from("anbocx")
)
any_text = st.text(alphabet=any_char, max_size=60)
clean_text = st.text(alphabet=clean_char, max_size=60)
newline = st.sampled_from(["\n", "\r\n", "\r"])
line = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=("Cs",), exclude_characters="\n\r\x00"),
        st.sampled_from(AWKWARD.replace("\n", "").replace("\r", "").replace("\x00", "")),
        st.sampled_from(" \tabc"),
    ),
    max_size=15,
)
lined_text = st.lists(st.tuples(line, newline), max_size=8).map(lambda xs: "".join(a + b for a, b in xs))


@st.composite
def file_bytes(draw: st.DrawFn) -> bytes:
    """Bytes a text file might hold: random bytes, or UTF-8 with BOMs, line breaks of every
    kind, NULs, encoded surrogates, overlong forms and stray bytes spliced in."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    text = draw(st.one_of(any_text, lined_text))
    raw = bytearray(text.encode("utf-8", "surrogatepass"))
    splices = [
        b"\xef\xbb\xbf",
        b"\r\n",
        b"\r",
        b"\x00",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
        b"\xff",
        b"\x80",
        b"\xf4\x90",
    ]
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(raw)))
        raw[at:at] = draw(st.sampled_from(splices))
    if draw(st.booleans()):
        raw[:0] = b"\xef\xbb\xbf"
    return bytes(raw)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(alphabet=any_char, max_size=3),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


# --- the vocabulary -------------------------------------------------------------------------


@settings(FUZZ, max_examples=examples(300))
@given(text=any_text, with_eos=st.booleans())
def test_vocab_round_trips_any_text(text: str, with_eos: bool) -> None:
    if any(map(is_surrogate, text)):
        with pytest.raises(VocabularyError) as caught:
            Vocab.from_text(text, with_eos=with_eos)
        assert "lone surrogate" in one_line(caught.value)
        return
    vocab = Vocab.from_text(text, with_eos=with_eos)
    assert vocab.chars == tuple(sorted(set(text) | ({EOS} if with_eos else set())))
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and len(ids) == len(text)
    assert all(0 <= i < vocab.size for i in ids.tolist())
    assert vocab.decode(ids) == text
    assert Vocab.from_json(vocab.to_json()) == vocab
    assert Vocab.from_text(text.splitlines(keepends=True), with_eos=with_eos) == vocab
    assert (vocab.eos_id is not None) == (EOS in vocab.chars)


@settings(FUZZ, max_examples=examples(300))
@given(known=clean_text, text=any_text)
def test_encoding_foreign_text_names_the_first_unknown_character(known: str, text: str) -> None:
    vocab = Vocab.from_text(known)
    unknown = [pos for pos, ch in enumerate(text) if ch not in vocab]
    if not unknown:
        assert vocab.decode(vocab.encode(text)) == text
        return
    with pytest.raises(VocabularyError) as caught:
        vocab.encode(text)
    assert f"at position {unknown[0]}," in one_line(caught.value)


@settings(FUZZ, max_examples=examples(200))
@given(known=clean_text, ids=st.lists(st.integers(-(2**70), 2**70), max_size=8))
def test_decoding_refuses_ids_outside_the_vocabulary(known: str, ids: list[int]) -> None:
    vocab = Vocab.from_text(known)
    if all(0 <= i < vocab.size for i in ids):
        assert vocab.decode(ids) == "".join(vocab.chars[i] for i in ids)
        return
    with pytest.raises(VocabularyError) as caught:
        vocab.decode(ids)
    one_line(caught.value)


@settings(FUZZ, max_examples=examples(300))
@given(
    value=st.one_of(
        json_values,
        st.lists(st.text(alphabet=any_char, max_size=2), max_size=8).map(lambda c: {"chars": c}),
        st.lists(any_char, max_size=8, unique=True).map(lambda c: {"chars": sorted(c)}),
    )
)
def test_a_vocabulary_from_any_json_is_a_vocab_or_a_model_file_error(value: object) -> None:
    try:
        vocab = Vocab.from_json(value)
    except ModelFileError as err:
        one_line(err)
        return
    assert isinstance(value, dict)
    assert list(vocab.chars) == value["chars"]
    assert not any(map(is_surrogate, vocab.chars))


# --- reading files --------------------------------------------------------------------------


def expected_text(raw: bytes) -> str | None:
    """What decode_text promises for `raw`: None where it must refuse."""
    try:
        text = raw.decode("utf-8")  # strict: encoded surrogates and overlong forms are errors
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return text if text.strip() else None


@settings(FUZZ, max_examples=examples(600))
@given(raw=file_bytes())
def test_any_bytes_decode_to_clean_text_or_one_data_error(raw: bytes) -> None:
    wanted = expected_text(raw)
    try:
        text = decode_text(raw, "data.txt")
    except DataError as err:
        message = one_line(err)
        assert wanted is None, message
        assert message.startswith("data.txt ")
        return
    assert text == wanted
    assert "\r" not in text and "\x00" not in text and text.strip()
    assert not any(map(is_surrogate, text))
    assert text.encode("utf-8")  # what comes back can be written again


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_text")


@settings(FUZZ, max_examples=examples(100))
@given(raw=file_bytes())
def test_read_text_reads_a_file_as_decode_text_reads_its_bytes(folder: Path, raw: bytes) -> None:
    path = folder / "data.txt"
    path.write_bytes(raw)
    try:
        wanted: str | BaseException = decode_text(raw, str(path))
    except DataError as err:
        wanted = err
    try:
        got: str | BaseException = read_text(path)
    except DataError as err:
        got = err
    if isinstance(wanted, str):
        assert got == wanted
    else:
        assert isinstance(got, DataError) and str(got) == str(wanted)


def test_files_that_are_not_text() -> None:
    cases = {
        b"": "is empty",
        b"\xef\xbb\xbf": "is empty",
        b"\xef\xbb\xbf \r\n\r\t": "is empty",
        b"\xff\xfea\x00b\x00": "not UTF-8",  # UTF-16
        b"ab\x00cd": "NUL",
        b"\xed\xa0\x80": "not UTF-8",  # a surrogate, encoded
        b"\xc0\xaf": "not UTF-8",  # an overlong '/'
    }
    for raw, detail in cases.items():
        with pytest.raises(DataError, match=detail):
            decode_text(raw, "f")
    assert decode_text(b"\xef\xbb\xbf\xef\xbb\xbfa", "f") == "\ufeffa"  # one BOM is dropped, not two


# --- corpora --------------------------------------------------------------------------------


@settings(FUZZ, max_examples=examples(400))
@given(text=st.one_of(any_text, lined_text), lowercase=st.booleans())
def test_a_lines_corpus_from_any_text(text: str, lowercase: bool) -> None:
    try:
        corpus = LinesCorpus.from_text(text, lowercase=lowercase)
    except DataError as err:
        message = one_line(err)
        assert not stripped_lines(normalise(text, lowercase=lowercase)), message
        return
    normal = normalise(text, lowercase=lowercase)
    assert corpus.examples == stripped_lines(normal)
    for example in corpus.examples:
        assert example and example == example.strip() and EOS not in example
        assert len(example) <= MAX_LINE_CHARS
    assert corpus.num_chars() == sum(len(e) + 1 for e in corpus.examples)
    try:
        vocab = corpus.vocab()
    except VocabularyError as err:
        assert "lone surrogate" in one_line(err)
        assert any(map(is_surrogate, "".join(corpus.examples)))
        return
    assert EOS in vocab
    assert [vocab.decode(ids) for ids in corpus.encode(vocab)] == list(corpus.examples)
    try:
        train, val = corpus.split(0.5, seed=0)
    except DataError as err:
        one_line(err)
        assert len(corpus.examples) == 1
    else:
        assert sorted(train.examples + val.examples) == sorted(corpus.examples)


@settings(FUZZ, max_examples=examples(300))
@given(lines=st.lists(line, max_size=8), separators=st.lists(newline, min_size=8, max_size=8))
def test_crlf_cr_and_lf_give_the_same_examples(lines: list[str], separators: list[str]) -> None:
    unix = "".join(s + "\n" for s in lines)
    mixed = "".join(s + sep for s, sep in zip(lines, separators, strict=False))
    assume(unix.strip())
    read = decode_text(("\ufeff" + mixed).encode("utf-8"), "f")
    assert "\r" not in read
    # the same lines, but for empty ones (a CR, an empty line and a LF make one CRLF)
    assert stripped_lines(read) == stripped_lines(unix)
    assert LinesCorpus.from_text(read).examples == LinesCorpus.from_text(unix).examples
    # CRLF text that skipped read_text: the stripped "\r" makes no example differ
    crlf = "".join(s + "\r\n" for s in lines)
    assert LinesCorpus.from_text(crlf).examples == LinesCorpus.from_text(unix).examples


@settings(FUZZ, max_examples=examples(40))
@given(
    before=st.lists(line, max_size=4),
    after=st.lists(line, max_size=4),
    extra=st.integers(1, 3000),
    char=st.sampled_from("aΩ\U0001f600"),
)
def test_a_huge_line_is_refused_with_its_number(
    before: list[str], after: list[str], extra: int, char: str
) -> None:
    huge = char * (MAX_LINE_CHARS + extra)
    text = "\n".join([*before, huge, *after])
    with pytest.raises(DataError) as caught:
        LinesCorpus.from_text(text)
    message = one_line(caught.value)
    assert f"line {len(before) + 1} has {MAX_LINE_CHARS + extra:,} characters" in message
    assert "--mode stream" in message
    assert StreamCorpus.from_text(text).text == text  # running text takes it
    # the longest line that lines mode takes, surrounded by whitespace that is stripped
    fits = "\n".join([*before, "  " + char * MAX_LINE_CHARS + "\t", *after])
    assert char * MAX_LINE_CHARS in LinesCorpus.from_text(fits).examples


@settings(FUZZ, max_examples=examples(300))
@given(text=st.one_of(any_text, lined_text), lowercase=st.booleans())
def test_a_stream_corpus_from_any_text(text: str, lowercase: bool) -> None:
    try:
        corpus = make_corpus(text, "stream", lowercase=lowercase)
    except DataError as err:
        one_line(err)
        assert len(normalise(text, lowercase=lowercase)) < 2
        return
    assert isinstance(corpus, StreamCorpus) and corpus.text == normalise(text, lowercase=lowercase)
    assert corpus.lines() == stripped_lines(corpus.text)
    try:
        vocab = corpus.vocab()
    except VocabularyError as err:
        assert "lone surrogate" in one_line(err)
        return
    (ids,) = corpus.encode(vocab)
    assert vocab.decode(ids) == corpus.text
    train, val = corpus.split(0.5)
    assert train.text + val.text == corpus.text and val.text


def test_an_unknown_mode_is_an_option_error() -> None:
    with pytest.raises(OptionError):
        make_corpus("anna\n", "words")  # type: ignore[arg-type]


# --- sampling and scoring -------------------------------------------------------------------


def small_models() -> dict[str, SequenceModel]:
    vocab = LinesCorpus.from_text(NAMES).vocab()
    text = "the cat sat on the mat. "
    stream_vocab = StreamCorpus(text).vocab()
    return {
        "classic lines": tiny_lines_model(),
        "classic stream": tiny_stream_model(text),
        "lstm lines": CharModel.create(
            vocab, "lines", cell="lstm", hidden=6, layers=2, seed=0, lowercase=True
        ),
        "gru stream": CharModel.create(stream_vocab, "stream", cell="gru", hidden=6, seed=0),
        "transformer lines": TransformerModel.create(
            vocab, "lines", d_model=8, layers=1, heads=2, context=12, seed=0
        ),
        "transformer stream": TransformerModel.create(
            stream_vocab, "stream", d_model=8, layers=1, heads=2, context=12, seed=0, positions="rotary"
        ),
    }


MODELS = small_models()
LINES = [name for name, model in MODELS.items() if model.mode == "lines"]
STREAM = [name for name, model in MODELS.items() if model.mode == "stream"]


def knows(model: SequenceModel, text: str) -> bool:
    return all(c in model.vocab for c in text)


def mostly(valid: st.SearchStrategy, hostile: st.SearchStrategy) -> st.SearchStrategy:
    """Three draws in four from `valid`, so that most requests get as far as the model."""
    return st.integers(0, 3).flatmap(lambda k: valid if k else hostile)


def texts_for(model: SequenceModel, max_size: int = 14) -> st.SearchStrategy[str]:
    """Text of the model's characters (upper case too, for a lowercasing model), or any text."""
    known = sorted(set(model.vocab.chars) - {EOS})
    alphabet = known + [c.upper() for c in known] if model.lowercase else known
    return mostly(
        st.text(alphabet=st.sampled_from(alphabet), max_size=max_size), st.text(any_char, max_size=max_size)
    )


@st.composite
def decodings(draw: st.DrawFn) -> tuple[float, int, float, bool]:
    """(temperature, top_k, top_p, greedy): mostly valid, else anything, NaN and inf included."""
    valid = (
        st.one_of(st.just(1.0), st.floats(0.05, 5.0), st.sampled_from([5e-324, 1e-30, 1e30, 1e308])),
        st.one_of(st.just(0), st.integers(1, 30), st.just(10**30)),
        st.one_of(st.just(1.0), st.floats(0.01, 1.0), st.just(5e-324)),
    )
    hostile = (
        st.one_of(st.floats(), st.sampled_from([0.0, -0.0, -1.0, math.nan, math.inf])),
        st.integers(-(2**70), 40),
        st.one_of(st.floats(), st.sampled_from([0.0, -0.0, 1.0000001, math.nan, math.inf])),
    )
    chosen = [draw(mostly(ok, bad)) for ok, bad in zip(valid, hostile, strict=True)]
    return chosen[0], chosen[1], chosen[2], draw(st.booleans())


def valid_decoding(temperature: float, top_k: int, top_p: float) -> bool:
    return math.isfinite(temperature) and temperature > 0 and top_k >= 0 and 0 < top_p <= 1


@st.composite
def name_requests(draw: st.DrawFn) -> tuple[str, str, int, int]:
    name = draw(st.sampled_from(LINES))
    prefix = draw(texts_for(MODELS[name]))
    n = draw(mostly(st.integers(1, 4), st.sampled_from([0, -1, -(2**64), 2**62 + 1])))
    max_len = draw(
        mostly(st.integers(len(prefix) + 1, len(prefix) + 20), st.sampled_from([0, -3, len(prefix), 10**30]))
    )
    return name, prefix, n, max_len


@settings(FUZZ, max_examples=examples(300))
@given(request=name_requests(), decoding=decodings(), seed=st.integers(0, 2**32 - 1))
def test_names_start_with_any_prefix_or_the_request_is_refused(
    request: tuple[str, str, int, int], decoding: tuple[float, int, float, bool], seed: int
) -> None:
    name, prefix, n, max_len = request
    temperature, top_k, top_p, greedy = decoding
    model = MODELS[name]
    head = normalise(prefix, lowercase=model.lowercase)
    valid = (
        knows(model, head)
        and EOS not in head
        and 1 <= n <= 4
        and len(head) < max_len <= MAX_NAME_LEN
        and valid_decoding(temperature, top_k, top_p)
    )
    try:
        names = generate_lines(
            model,
            n,
            np.random.default_rng(seed),
            prefix=prefix,
            max_len=max_len,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            greedy=greedy,
        )
    except SaurusError as err:
        message = one_line(err)
        assert not valid, message
        event(f"refused: {type(err).__name__}")
        return
    event("sampled")
    assert valid
    assert len(names) == n
    for drawn in names:  # after a prefix the end token may come at once; without one, not
        assert drawn.startswith(head) and max(1, len(head)) <= len(drawn) <= max_len
        assert EOS not in drawn and knows(model, drawn)


@st.composite
def text_requests(draw: st.DrawFn) -> tuple[str, str, int]:
    name = draw(st.sampled_from(STREAM))
    prefix = draw(texts_for(MODELS[name]))
    length = draw(mostly(st.integers(1, 40), st.sampled_from([0, -1, -(2**64), 2**62 + 1])))
    return name, prefix, length


@settings(FUZZ, max_examples=examples(300))
@given(request=text_requests(), decoding=decodings(), seed=st.integers(0, 2**32 - 1))
def test_text_starts_with_any_prefix_or_the_request_is_refused(
    request: tuple[str, str, int], decoding: tuple[float, int, float, bool], seed: int
) -> None:
    name, prefix, length = request
    temperature, top_k, top_p, greedy = decoding
    model = MODELS[name]
    valid = knows(model, prefix) and 1 <= length <= 40 and valid_decoding(temperature, top_k, top_p)
    try:
        text = generate_text(
            model,
            length,
            np.random.default_rng(seed),
            prefix=prefix,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            greedy=greedy,
        )
    except SaurusError as err:
        message = one_line(err)
        assert not valid, message
        event(f"refused: {type(err).__name__}")
        return
    event("sampled")
    assert valid
    assert text.startswith(prefix) and len(text) == len(prefix) + length and knows(model, text)


@st.composite
def score_requests(draw: st.DrawFn) -> tuple[str, list[str]]:
    name = draw(st.sampled_from(list(MODELS)))
    model = MODELS[name]
    known = sorted(set(model.vocab.chars) - ({EOS} if model.mode == "lines" else set()))
    clean = st.text(alphabet=st.sampled_from(known), min_size=1, max_size=30)
    return name, draw(mostly(st.lists(clean, max_size=5), st.lists(texts_for(model, 30), max_size=5)))


@settings(FUZZ, max_examples=examples(300))
@given(request=score_requests())
def test_scores_are_numbers_or_the_strings_are_refused(request: tuple[str, list[str]]) -> None:
    name, texts = request
    model = MODELS[name]
    normal = [normalise(t, lowercase=model.lowercase) for t in texts]
    if model.mode == "lines":
        valid = all(knows(model, t) and EOS not in t for t in normal)
    else:
        valid = all(knows(model, t) and t for t in normal)
    try:
        reports = score_strings(model, texts)
    except SaurusError as err:
        message = one_line(err)
        assert not valid, message
        event(f"refused: {type(err).__name__}")
        return
    event("scored")
    assert valid and len(reports) == len(texts)
    for report, text in zip(reports, normal, strict=True):
        assert not math.isnan(report.nats)
        assert math.isfinite(report.nats) or report.nats == math.inf  # log p = -inf
        assert report.chars == len(text) + (model.mode == "lines")


@st.composite
def texts_to_score(draw: st.DrawFn) -> tuple[str, list[str]]:
    name = draw(st.sampled_from(list(MODELS)))
    return name, draw(st.lists(texts_for(MODELS[name], 20), min_size=1, max_size=5))


@settings(FUZZ, max_examples=examples(300))
@given(request=texts_to_score(), skip=st.booleans())
def test_unknown_characters_are_skipped_or_named(request: tuple[str, list[str]], skip: bool) -> None:
    name, texts = request
    model = MODELS[name]
    try:
        prepared, note = prepare_scored(model, texts, skip_unknown=skip)
    except VocabularyError as err:
        message = one_line(err)
        assert not skip and message.startswith("string ")
        return
    assert len(prepared) == len(texts)
    assert note == "" or note.splitlines() == [note]
    for kept in prepared:
        if kept is not None:
            assert knows(model, normalise(kept, lowercase=model.lowercase))
        else:
            assert skip
    whole = normalise("\n".join(texts), lowercase=model.lowercase)
    try:
        kept_text, note = drop_unknown(model, whole, "f", skip_unknown=skip)
    except VocabularyError as err:
        message = one_line(err)
        assert skip or message.startswith("f:")
        return
    assert note == "" or note.splitlines() == [note]
    checked = kept_text if model.mode == "stream" else "".join(s.strip() for s in kept_text.split(EOS))
    assert knows(model, checked)
