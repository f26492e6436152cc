"""Categories: a names model conditioned on a label (a language, a style) by a learned
category embedding added to the input of every step.

    recurrent:    xw^1_t = embed[x_t] + l0.b + w . cat          cat: (K, G H)
    transformer:  x_t = tok_emb[x_t] + pos_emb[t] + w . cat_emb  cat_emb: (K, D)

where w is a category's one-hot row, or a blend: weights w_k >= 0 summing to 1, which mix
the category embeddings (a point between the categories, not a mixture of their names).
A model used with no category reads as the blend of the prior: each category weighted by
its share of the training names, `category_counts`. `conditioned(model, spec)` folds a
blend into the weights (recurrent: l0.b + w . cat; transformer: learned positions get
pos_emb + w . cat_emb, rotary ones tok_emb + w . cat_emb with an untied head), giving a
plain model that every sampler, scorer and stepper runs unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from saurus.errors import ModelFileError, OptionError
from saurus.generation.scoring import score_strings

MAX_CATEGORIES = 1000
MAX_LABEL_CHARS = 200
Spec = str | Mapping[str, float] | None


def prior(counts: np.ndarray) -> np.ndarray:
    """Each category's share of the training names (uniform if there were none)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.full(len(counts), 1.0 / max(len(counts), 1))


def parse_spec(spec: str) -> dict[str, float]:
    """'Irish' -> {Irish: 1}; 'Irish=0.7,Italian=0.3' -> {Irish: 0.7, Italian: 0.3}."""
    spec = spec.strip()
    if not spec:
        raise OptionError("--category is empty; give a category, or a blend such as Irish=0.7,Italian=0.3")
    if "=" not in spec:
        return {spec: 1.0}
    weights: dict[str, float] = {}
    for part in spec.split(","):
        label, sep, value = part.rpartition("=")
        label = label.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not label or not math.isfinite(weight) or weight < 0:
            raise OptionError(
                f"--category: {part.strip()!r} is not LABEL=WEIGHT with a weight >= 0 "
                "(a blend reads Irish=0.7,Italian=0.3)"
            )
        weights[label] = weights.get(label, 0.0) + weight
    return weights


def blend(spec: Spec, categories: Sequence[str], counts: np.ndarray) -> np.ndarray:
    """The weights w (K,) that `spec` names: one category, a blend (normalised to sum 1), or
    None for the prior. An unknown category is an OptionError listing the known ones."""
    if spec is None:
        return prior(counts)
    if isinstance(spec, str) and spec.strip() in categories:  # (a label may hold "=" or ",")
        return one_hot(list(categories).index(spec.strip()), len(categories))
    weights = parse_spec(spec) if isinstance(spec, str) else {str(k): float(v) for k, v in spec.items()}
    index = {label: k for k, label in enumerate(categories)}
    unknown = [label for label in weights if label not in index]
    if unknown:
        known = ", ".join(categories[:40]) + (", ..." if len(categories) > 40 else "")
        raise OptionError(f"unknown category {unknown[0]!r}; the model's categories are: {known}")
    w = np.zeros(len(categories))
    for label, weight in weights.items():
        if not (math.isfinite(weight) and weight >= 0):
            raise OptionError(f"the weight of category {label!r} must be a number >= 0, got {weight}")
        w[index[label]] += weight
    if w.sum() <= 0:
        raise OptionError("the blend's weights sum to 0; give at least one a positive weight")
    return w / w.sum()


def categories_of(model: Any) -> tuple[str, ...]:
    return tuple(getattr(model, "categories", ()) or ())


def conditioned(model: Any, spec: Spec) -> Any:
    """`model` folded for the category or blend `spec` (None: the prior blend); a model
    without categories is returned as it is, unless a category was asked for."""
    categories = categories_of(model)
    if not categories:
        if spec is not None:
            raise OptionError("this model was not trained on labelled names; it takes no --category")
        return model
    return model.conditioned(blend(spec, categories, model.category_counts))


def one_hot(k: int, size: int) -> np.ndarray:
    w = np.zeros(size)
    w[k] = 1.0
    return w


def categories_meta(categories: Sequence[str]) -> dict[str, Any]:
    """The model file's record of the categories (empty for a model without them)."""
    return {"categories": list(categories)} if categories else {}


def read_categories(
    meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> tuple[tuple[str, ...], np.ndarray]:
    """The categories and their training counts a model file records, checked."""
    labels = meta.get("categories", [])
    if not isinstance(labels, list) or len(labels) > MAX_CATEGORIES:
        raise ModelFileError("the model's categories are malformed")
    if not all(isinstance(x, str) and 0 < len(x) <= MAX_LABEL_CHARS for x in labels):
        raise ModelFileError("the model's categories are malformed (each a non-empty label)")
    if len(set(labels)) != len(labels):
        raise ModelFileError("the model's categories repeat a label")
    counts = arrays.get("category_counts", np.zeros(0, dtype=np.int64))
    if counts.dtype != np.int64 or counts.shape != (len(labels),) or (counts < 0).any():
        raise ModelFileError("the model's category counts are malformed")
    return tuple(labels), counts


def check_weights(w: np.ndarray, size: int) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (size,) or not np.isfinite(w).all() or (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise OptionError(f"category weights must be {size} numbers >= 0 summing to 1")
    return w


def log_likelihoods(model: Any, names: Sequence[str]) -> np.ndarray:
    """log p(name | category) for every name and category, (N, K) (end token included)."""
    categories = categories_of(model)
    if not categories:
        raise OptionError(
            "this model was not trained on labelled names; classifying needs one "
            "(train on a folder of one file per category, or a .tsv or .csv of name and label)"
        )
    table = np.zeros((len(names), len(categories)))
    for k in range(len(categories)):
        reports = score_strings(model.conditioned(one_hot(k, len(categories))), names)
        table[:, k] = [-r.total_nats for r in reports]
    return table


def posteriors(model: Any, names: Sequence[str]) -> np.ndarray:
    """p(category | name) by Bayes' rule, (N, K): prior_k p(name | k) / sum_j prior_j p(name | j),
    the prior each category's share of the training names."""
    if not names:
        return np.zeros((0, len(categories_of(model))))
    return bayes(log_likelihoods(model, names), model.category_counts)


def bayes(table: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """p(category | name) (N, K) from log p(name | category) (N, K) and the training counts."""
    with np.errstate(divide="ignore"):
        logits = np.asarray(table, dtype=np.float64) + np.log(prior(counts))
    logits -= logits.max(axis=1, keepdims=True)
    odds = np.exp(logits)
    return odds / odds.sum(axis=1, keepdims=True)


def classify(model: Any, names: Sequence[str], top: int = 1) -> list[list[tuple[str, float]]]:
    """For each name, its `top` likeliest categories with their posterior probabilities,
    likeliest first (see `posteriors`)."""
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise OptionError(f"top must be a whole number, 1 or more, got {top!r}")
    return ranked(posteriors(model, names), categories_of(model), top)


def ranked(post: np.ndarray, categories: Sequence[str], top: int) -> list[list[tuple[str, float]]]:
    """Each row's `top` likeliest categories with their probabilities, likeliest first."""
    order = np.argsort(-post, axis=1, kind="stable")[:, :top]
    return [[(categories[k], float(row[k])) for k in ks] for row, ks in zip(post, order, strict=True)]
