"""Characters a model has never seen, in text to score: where they are, or leaving them out.

Without --skip-unknown the first one is an error that names its place (FILE:line:column,
or string k, column c). With it, a lines model leaves out every name holding one (its
probability is 0: log p = -inf) and a stream model drops the characters themselves; either
way one line says how much was left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from saurus.data.corpus import line_and_column, normalise
from saurus.data.vocab import EOS, describe_char
from saurus.errors import VocabularyError
from saurus.protocol import SequenceModel

ADVICE = "--skip-unknown leaves out what the model cannot score"


def unknown_in(model: SequenceModel, text: str) -> set[str]:
    """The characters of `text` the model lacks (the line break is the separator of names)."""
    missing = set(text) - set(model.vocab.chars)
    if model.mode == "lines":
        missing.discard(EOS)
    return missing


def not_known(model: SequenceModel, ch: str) -> str:
    return f"the character {describe_char(ch)} is not among the model's {model.vocab.size} characters"


def listed(chars: set[str]) -> str:
    shown = ", ".join(describe_char(c) for c in sorted(chars)[:5])
    return shown + (f" and {len(chars) - 5} more" if len(chars) > 5 else "")


def drop_unknown(model: SequenceModel, text: str, name: str, *, skip_unknown: bool) -> tuple[str, str]:
    """`text` (already normalised as the model's data was) made scorable, and a line saying
    what was left out ("" when nothing was)."""
    missing = unknown_in(model, text)
    if model.mode == "lines":  # whitespace around a name is stripped, so it cannot be unknown
        missing = {c for c in missing if any(c in line.strip() for line in text.split(EOS))}
    if not missing:
        return text, ""
    if not skip_unknown:
        pos = min(text.find(c) for c in missing)
        line, column = line_and_column(text, pos)
        raise VocabularyError(f"{name}:{line}:{column}: {not_known(model, text[pos])}; {ADVICE}")
    if model.mode == "lines":
        lines = [line for line in text.split(EOS) if line.strip()]
        kept = [line for line in lines if not missing & set(line.strip())]
        if not kept:
            raise VocabularyError(
                f"every name in {name} holds a character the model lacks ({listed(missing)})"
            )
        left_out = f"{len(lines) - len(kept)} of {len(lines)} names"
        return EOS.join(kept), f"skipped {left_out} holding characters the model lacks: {listed(missing)}"
    kept_text = text.translate({ord(c): None for c in missing})
    if len(kept_text) < 2:
        raise VocabularyError(f"almost nothing in {name} is known to the model ({listed(missing)})")
    left_out = f"{len(text) - len(kept_text)} of {len(text)} characters"
    return kept_text, f"skipped {left_out} unknown to the model: {listed(missing)}"


def prepare_scored(
    model: SequenceModel, texts: Sequence[str], *, skip_unknown: bool
) -> tuple[list[str | None], str]:
    """Each string ready to score (None: a name that cannot be scored, log p = -inf), and a
    line saying what was left out."""
    prepared: list[str | None] = []
    dropped_names, dropped_chars, missing_all = 0, 0, set()
    for k, text in enumerate(texts, 1):
        normal = normalise(text, lowercase=model.lowercase)
        missing = set(normal) - set(model.vocab.chars)
        if not missing:
            prepared.append(text)
            continue
        if not skip_unknown:
            pos = min(normal.find(c) for c in missing)
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise VocabularyError(
                f"string {k} ({shown!r}), column {pos + 1}: {not_known(model, normal[pos])}; {ADVICE}"
            )
        missing_all |= missing
        if model.mode == "lines":
            prepared.append(None)
            dropped_names += 1
        else:
            kept = normal.translate({ord(c): None for c in missing})
            dropped_chars += len(normal) - len(kept)
            prepared.append(kept if kept else None)
    if not missing_all:
        return prepared, ""
    if model.mode == "lines":
        what = f"{dropped_names} of {len(texts)} names hold characters the model lacks (scored -inf)"
    else:
        what = f"skipped {dropped_chars} character{'' if dropped_chars == 1 else 's'} the model lacks"
    return prepared, f"{what}: {listed(missing_all)}"
