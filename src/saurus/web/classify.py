"""POST /v1/classify: the likeliest categories of each name under a names model trained on
labelled names, by Bayes' rule with the training shares as the prior (what `saurus
classify` prints; saurus.generation.categories). No HTTP here.

Each name is scored once per category, so the work is its characters (end token included)
times the model's categories, at most MAX_SCORE_CHARS a request; the scoring looks at the
deadline between steps, in groups of similar length (as /v1/score does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from saurus.errors import SaurusError
from saurus.generation.categories import bayes, categories_of, one_hot, ranked
from saurus.generation.scoring import check_texts, score_strings
from saurus.web.completions import score_groups, text_model
from saurus.web.limits import NO_DEADLINE, Deadline, timed
from saurus.web.problems import invalid
from saurus.web.schemas import (
    MAX_SCORE_CHARS,
    CategoryProbability,
    ClassifyItem,
    ClassifyRequest,
    ClassifyResponse,
)
from saurus.web.served import ServedModel


def names_of(req: ClassifyRequest) -> list[str]:
    return [req.names] if isinstance(req.names, str) else req.names


def labelled_model(served: Mapping[str, ServedModel], model_id: str) -> Any:
    """The names model served as `model_id`, which must have categories (else a 400)."""
    found = text_model(served, model_id)
    if not categories_of(found.model):
        raise invalid(
            f"{model_id} was not trained on labelled names, so it has no categories to classify "
            "by; train one on a .tsv or .csv of name and label",
            "model",
        )
    return found.model


def classify_work(served: Mapping[str, ServedModel], req: ClassifyRequest) -> int:
    """Check a classify request (ApiError when refused); the characters it scores: each
    name, end token included, once per category."""
    model = labelled_model(served, req.model)
    work = sum(len(name) + 1 for name in names_of(req)) * len(categories_of(model))
    if work > MAX_SCORE_CHARS:
        raise invalid(
            f"the names x the model's {len(categories_of(model))} categories = {work:,} characters to "
            f"score, above the limit of {MAX_SCORE_CHARS:,} per request; send fewer names",
            "names",
        )
    return work


def log_likelihoods(model: Any, names: Sequence[str], deadline: Deadline) -> np.ndarray:
    """log p(name | category) (N, K), each category's conditioned model stepped with the
    deadline, the names scored in groups of similar length."""
    size = len(categories_of(model))
    table = np.zeros((len(names), size))
    for k in range(size):
        stepped = timed(model.conditioned(one_hot(k, size)), deadline)
        for group in score_groups(list(names)):
            reports = score_strings(stepped, [names[i] for i in group])
            for i, report in zip(group, reports, strict=True):
                table[i, k] = -report.total_nats
    return table


def run_classify(
    served: Mapping[str, ServedModel], req: ClassifyRequest, deadline: Deadline = NO_DEADLINE
) -> ClassifyResponse:
    """POST /v1/classify: each name's `top` likeliest categories with their posterior
    probabilities. Past the deadline it stops with TimeLimitError."""
    classify_work(served, req)
    model = labelled_model(served, req.model)
    names = names_of(req)
    categories = categories_of(model)
    try:
        checked = check_texts(model, names)
        post = bayes(log_likelihoods(model, checked, deadline), model.category_counts)
    except SaurusError as err:
        raise invalid(str(err), "names") from None
    items = [
        ClassifyItem(
            index=i,
            name=name,
            categories=[CategoryProbability(category=c, probability=p) for c, p in pairs],
        )
        for i, (name, pairs) in enumerate(zip(names, ranked(post, categories, req.top), strict=True))
    ]
    return ClassifyResponse(model=req.model, data=items)
