"""`saurus sample`, `score`, `eval` and `info`: what a trained model does with text."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from saurus.cli.args import (
    TEXT_SEPARATOR,
    add_command,
    add_decoding_options,
    decoding_of,
    positive_float,
    positive_int,
    refuse,
    say,
    seed_value,
)
from saurus.data.corpus import Corpus, LinesCorpus, decode_text, make_corpus
from saurus.data.datasets import DATASETS, open_source
from saurus.data.labelled import labelled_corpus
from saurus.errors import DataError, OptionError
from saurus.files import models
from saurus.files.outputs import (
    is_model_file,
)
from saurus.generation.categories import conditioned
from saurus.generation.constraints import Constraints
from saurus.generation.decoding import decoding_kwargs
from saurus.generation.likely import write_most_likely
from saurus.generation.novelty import overlap
from saurus.generation.sampling import (
    DEFAULT_MAX_LEN,
    DEFAULT_TEXT_LENGTH,
    DEFAULT_TIME_LIMIT,
    iter_lines,
    iter_text,
    iter_texts,
)
from saurus.generation.scoring import evaluate, score_strings
from saurus.generation.unknown_chars import drop_unknown, prepare_scored, unknown_in
from saurus.protocol import SequenceModel
from saurus.resources import human

SAMPLE_USAGE = """\
generate new names or text from a model
saurus sample -n 5
saurus sample dinos.saurus -n 20 --novel --seed 1
saurus sample dinos.saurus --prefix tyr --temperature 0.7
saurus sample sonnets.saurus --length 400 --prefix 'Shall I'
saurus sample dinos.saurus --most-likely 20 --novel
"""

EVAL_USAGE = """\
loss of a model on a text file or dataset (nats/char, bits/char, perplexity)
saurus eval dinos.saurus held_out.txt
saurus eval names.saurus names --skip-unknown
"""

SCORE_USAGE = """\
log-probability per character of each string under a model
saurus score dinos.saurus tyrannosaurus xqzvw
saurus score dinos.saurus - < candidates.txt
"""

INFO_USAGE = """\
what a model file holds: its kind, size, characters, training and the plan it followed
saurus info dinos.saurus
saurus info dinos
"""


def load_text_model(path: Path) -> SequenceModel:
    """A names or text model; a music model is pointed to `saurus music`."""
    return models.load_for(path, "text", "use 'saurus music sample' or 'saurus music eval'")[0]


def add_constraint_options(p: argparse.ArgumentParser) -> None:
    """--ends-with, --contains, --excludes, --min-len, --pattern, --time-limit (names)."""
    g = p.add_argument_group(
        "names that meet constraints (exact: the model's own names, only those that fit)"
    )
    g.add_argument("--ends-with", default="", metavar="TEXT", help="names that end with TEXT")
    g.add_argument(
        "--contains",
        action="append",
        default=[],
        metavar="TEXT",
        help="names that hold TEXT (repeat for more)",
    )
    g.add_argument(
        "--excludes",
        action="append",
        default=[],
        metavar="TEXT",
        help="names without TEXT; one character or a string (repeat for more)",
    )
    g.add_argument("--min-len", type=positive_int, metavar="N", help="names of at least N characters")
    g.add_argument(
        "--pattern",
        metavar="REGEX",
        help="names that the regular expression matches whole (classes, alternation, repetition)",
    )
    g.add_argument(
        "--time-limit",
        type=positive_float,
        metavar="SECONDS",
        help=f"give up on constraints too rare to meet after this long (default: {DEFAULT_TIME_LIMIT:g})",
    )


def constraints_of(args: argparse.Namespace) -> Constraints | None:
    """The constraints the options ask for (None: none). --max-len alone is the drawing's
    limit, as it always was (a name is cut there; with --novel the new names within it are
    counted exactly); beside other constraints it is one of them (a longer name is refused)."""
    if Constraints.from_fields(args, max_len=None).empty:
        return None
    return Constraints.from_fields(args)


CONSTRAINT_FLAGS = ("--ends-with", "--contains", "--excludes", "--min-len", "--pattern", "--time-limit")


def add_category_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--category",
        metavar="LABEL",
        help=f"{what} of one category of a model trained on labelled names, or of a blend "
        "(Irish=0.7,Italian=0.3 mixes the categories' embeddings); default: all of them",
    )


def cmd_sample(args: argparse.Namespace) -> int:
    model = conditioned(load_text_model(args.model), args.category)
    out = sys.stdout
    constraints = constraints_of(args) if model.mode == "lines" else None
    if model.mode == "lines" and args.most_likely is not None:
        given = {"-n": args.n, "--seed": args.seed, "--unique": args.unique, "--length": args.length}
        given |= {"--temperature": args.temperature, "--top-k": args.top_k, "--top-p": args.top_p}
        clash = [flag for flag, value in {**given, "--greedy": args.greedy}.items() if value]
        if clash:
            raise OptionError(
                f"--most-likely lists the likeliest names, so {clash[0]} has no effect; drop one"
            )
        max_len = DEFAULT_MAX_LEN if args.max_len is None else args.max_len
        for note in write_most_likely(
            model, args.most_likely, out, args.prefix, args.novel, max_len, constraints
        ):
            say(note)
        return 0
    rng = np.random.default_rng(args.seed)
    decoding = {**decoding_kwargs(decoding_of(args)), "prefix": args.prefix}
    if model.mode == "lines":
        if args.length is not None:
            refuse("--length", "stream models (text)", "for names, --max-len limits their length")
        n = 10 if args.n is None else args.n
        max_len = DEFAULT_MAX_LEN if args.max_len is None else args.max_len
        limit = DEFAULT_TIME_LIMIT if args.time_limit is None else args.time_limit
        printed = 0
        lines = iter_lines(
            model,
            n,
            rng,
            max_len=max_len,
            novel=args.novel,
            unique=args.unique,
            constraints=constraints,
            time_limit=limit,
            **decoding,
        )
        for batch in lines:
            out.write("\n".join(batch) + "\n")
            out.flush()
            printed += len(batch)
        if printed < n and args.novel:
            say(f"only {printed} of {n} names are new: none other has at most {max_len} characters")
        elif printed < n:
            advice = "drop --greedy, which draws one name" if args.greedy else "try a higher --temperature"
            say(f"only {printed} of {n} names drawn were distinct; {advice}")
        return 0
    instead = {
        "--max-len": "this is a stream model; --length sets how much text",
        "--novel": "this is a stream model, whose text has no names to tell apart",
        "--unique": "this is a stream model; -n N draws N independent texts",
        "--most-likely": "this is a stream model, whose text has no names to list",
    }
    stream_flags = (
        ("--max-len", args.max_len),
        ("--novel", args.novel),
        ("--unique", args.unique),
        ("--most-likely", args.most_likely),
    )
    for flag, value in stream_flags:
        if value:
            refuse(flag, "lines models (names)", instead[flag])
    for flag in CONSTRAINT_FLAGS:
        if getattr(args, flag[2:].replace("-", "_")):
            refuse(flag, "lines models (names)", "this is a stream model; --prefix starts its text")
    length = DEFAULT_TEXT_LENGTH if args.length is None else args.length
    if args.n is None or args.n == 1:
        for piece in iter_text(model, length, rng, **decoding):
            out.write(piece)
            out.flush()
        out.write("\n")
        return 0
    first = True
    for group in iter_texts(model, args.n, length, rng, **decoding):
        for text in group:
            out.write(("" if first else TEXT_SEPARATOR + "\n") + text + "\n")
            first = False
        out.flush()
    return 0


MAX_STDIN_BYTES = 64 * 1024**2


def read_texts(texts: list[str]) -> list[str]:
    """The strings to score: the arguments, with - standing for stdin's non-blank lines
    (UTF-8, at most MAX_STDIN_BYTES)."""
    if "-" not in texts:
        return texts
    if sys.stdin is None:
        raise DataError("standard input is closed; give the strings as arguments")
    raw = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(raw) > MAX_STDIN_BYTES:
        raise DataError(f"standard input holds more than {human(MAX_STDIN_BYTES)}; score it in parts")
    lines = decode_text(raw, "standard input").split("\n")
    stdin = [line for line in lines if line.strip()]
    return [t for text in texts for t in (stdin if text == "-" else [text])]


def cmd_score(args: argparse.Namespace) -> int:
    model = conditioned(load_text_model(args.model), args.category)
    texts = read_texts(args.texts)
    scored, skipped = prepare_scored(model, texts, skip_unknown=args.skip_unknown)
    reports = iter(score_strings(model, [t for t in scored if t is not None]))
    for text, kept in zip(texts, scored, strict=True):
        score = -math.inf if kept is None else -next(reports).nats
        shown = text.encode("utf-8", "backslashreplace").decode()  # bytes from argv that are not UTF-8
        print(f"{score:.4f}\t{shown}")
    if skipped:
        say(skipped)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if not args.model.exists() and is_model_file(Path(args.file)):
        raise OptionError(f"the model comes first: saurus eval {args.file} {args.model}")
    model = load_text_model(args.model)
    source = open_source(args.file)
    corpus: Corpus
    if source.labelled:
        if args.category is not None:
            raise OptionError("the file gives each name its category; drop --category")
        corpus, skipped = labelled_for(model, source.text, str(args.file), args.skip_unknown)
    else:
        model = conditioned(model, args.category)
        text = source.text.lower() if model.lowercase else source.text
        text, skipped = drop_unknown(model, text, str(args.file), skip_unknown=args.skip_unknown)
        corpus = make_corpus(text, model.mode, lowercase=model.lowercase)
    report = evaluate(model, corpus)
    print(
        f"{args.file}: {report.nats:.4f} nats/char  {report.bits:.4f} bits/char  "
        f"perplexity {report.perplexity:.3f}  ({report.chars} characters)"
    )
    if skipped:
        say(skipped)
    warning = overlap(model, corpus.lines(), str(args.file))
    if warning:
        say(warning)
    return 0


def labelled_for(model: SequenceModel, text: str, where: str, skip_unknown: bool) -> tuple[LinesCorpus, str]:
    """Labelled names (from a folder or a table) as a corpus in the model's categories;
    names with characters the model lacks are refused, or left out with --skip-unknown."""
    categories = tuple(getattr(model, "categories", ()))
    if not categories:
        raise OptionError(f"{where} holds labelled names, but this model was not trained on labelled names")
    read = labelled_corpus(text, lowercase=model.lowercase)
    index = {label: k for k, label in enumerate(categories)}
    unknown = sorted(set(read.categories) - set(index))
    if unknown:
        raise DataError(
            f"{where}: the model has no category {unknown[0]!r}; its categories are: {', '.join(categories)}"
        )
    keep = [i for i, name in enumerate(read.examples) if not unknown_in(model, name)]
    if len(keep) < len(read.examples) and not skip_unknown:
        bad = next(name for name in read.examples if unknown_in(model, name))
        raise DataError(
            f"{where}: the name {bad!r} holds characters the model has never seen; add --skip-unknown"
        )
    if not keep:
        raise DataError(f"{where}: no name can be scored (each holds a character the model has never seen)")
    assert read.labels is not None
    labels = tuple(index[read.categories[read.labels[i]]] for i in keep)
    corpus = LinesCorpus(tuple(read.examples[i] for i in keep), labels, categories)
    dropped = len(read.examples) - len(keep)
    return corpus, f"left out {dropped} names with characters the model has never seen" if dropped else ""


def cmd_info(args: argparse.Namespace) -> int:
    """Print what the model file holds, one fact a line, and its training plan."""
    model, meta = models.load_with_meta(args.model)
    print(f"model: {args.model}")
    print(f"kind: {meta.get('kind')}, mode: {model.mode}, characters: {model.vocab.size}")
    sizes = {k: getattr(model, k, None) for k in ("cell", "layers", "hidden", "d_model", "heads", "context")}
    print("size: " + ", ".join(f"{k} {v}" for k, v in sizes.items() if v is not None))
    categories = tuple(getattr(model, "categories", ()))
    if categories:
        counts = getattr(model, "category_counts", ())
        shown = ", ".join(f"{label} ({count})" for label, count in zip(categories, counts, strict=True))
        print(f"categories: {len(categories)}, with their training names: {shown}")
    training = meta.get("training")
    if isinstance(training, dict):
        shown = {k: v for k, v in training.items() if k != "plan" and v is not None}
        for key, value in shown.items():
            print(f"{key}: {value}")
        plan = training.get("plan")
        if isinstance(plan, dict) and isinstance(plan.get("settings"), dict):
            settings = plan["settings"]
            print(
                "plan: {model} {layers} x {hidden}, engine {engine}, batch {batch_size}, lr {lr}, "
                "dropout {dropout}, weight decay {weight_decay}".format_map(
                    {k: settings.get(k) for k in PLAN_SHOWN}
                )
            )
            for reason in plan.get("reasons") or ():
                print(f"  {reason}")
    return 0


PLAN_SHOWN = ("model", "layers", "hidden", "engine", "batch_size", "lr", "dropout", "weight_decay")


def add_sample_commands(sub: argparse._SubParsersAction) -> None:
    """Register `saurus sample`, `eval`, `score` and `info`."""
    datasets = ", ".join(DATASETS)
    p = add_command(sub, "sample", SAMPLE_USAGE)
    p.add_argument(
        "model",
        type=Path,
        nargs="?",
        default=Path("dinos"),
        help="a model file written by saurus train, or a pretrained model: dinos (the default) "
        "or shakespeare",
    )
    p.add_argument(
        "-n",
        type=positive_int,
        help="how many names (lines models; default: 10), or independent text samples "
        f"(stream models, separated by a '{TEXT_SEPARATOR}' line; default: 1)",
    )
    p.add_argument("--seed", type=seed_value, help="seed for repeatable output (default: random)")
    add_decoding_options(p)
    p.add_argument(
        "--novel",
        action="store_true",
        help="lines: only names that are not in the training data, each once",
    )
    p.add_argument("--unique", action="store_true", help="lines: print no name twice")
    p.add_argument(
        "--most-likely",
        type=positive_int,
        metavar="N",
        help="lines: the N most probable names, best first, each after its log-probability "
        "(an exact search; with --novel, new names only)",
    )
    p.add_argument(
        "--prefix", "--starts-with", dest="prefix", default="", help="text every sample starts with"
    )
    p.add_argument(
        "--max-len",
        type=positive_int,
        help="lines: longest name, prefix included: a name is cut there (default: "
        f"{DEFAULT_MAX_LEN}); beside other constraints, a longer name is refused instead",
    )
    add_constraint_options(p)
    add_category_option(p, "names")
    p.add_argument(
        "--length",
        type=positive_int,
        help=f"stream: characters to write after the prefix (default: {DEFAULT_TEXT_LENGTH})",
    )
    p.set_defaults(run=cmd_sample)

    p = add_command(sub, "eval", EVAL_USAGE)
    p.add_argument("model", type=Path, help="a model file written by saurus train")
    p.add_argument("file", help=f"a UTF-8 file in the model's format, or a dataset: {datasets}")
    p.add_argument(
        "--skip-unknown",
        action="store_true",
        help="leave out what the model cannot score (lines: names with an unknown character; "
        "stream: the unknown characters) and say how much",
    )
    add_category_option(p, "the loss")
    p.set_defaults(run=cmd_eval)

    p = add_command(sub, "score", SCORE_USAGE)
    p.add_argument("model", type=Path, help="a model file written by saurus train")
    p.add_argument(
        "texts",
        nargs="+",
        metavar="TEXT",
        help="names (lines models) or text to score; - reads them from standard input, one per line",
    )
    p.add_argument(
        "--skip-unknown",
        action="store_true",
        help="score strings with unknown characters anyway (lines: -inf; stream: without them)",
    )
    add_category_option(p, "the log-probability")
    p.set_defaults(run=cmd_score)

    p = add_command(sub, "info", INFO_USAGE)
    p.add_argument("model", type=Path, help="a model file, or a pretrained model by name")
    p.set_defaults(run=cmd_info)
