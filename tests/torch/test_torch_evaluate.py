"""The torch engine's own validation loss equals the NumPy evaluation of the exported model,
for every kind, names and text, across the transformer's cache windows."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import NAMES

pytest.importorskip("torch")
import torch

from saurus.data.corpus import LinesCorpus, StreamCorpus
from saurus.generation.scoring import evaluate
from saurus.training.backends.torch.modules import RecurrentLM, TransformerLM
from saurus.training.backends.torch.train import TorchTrainee

TEXT = "the cat sat on the mat. the dog dug a log in the fog; a frog sat on the log. " * 40
MODULES = {
    "lstm": lambda v: RecurrentLM(v, "lstm", 12, 2, 0.0),
    "gru": lambda v: RecurrentLM(v, "gru", 12, 1, 0.0),
    "rnn": lambda v: RecurrentLM(v, "rnn", 12, 1, 0.0),
    "transformer": lambda v: TransformerLM(v, 16, 2, 2, 8, 0.0, False),
    "rotary": lambda v: TransformerLM(v, 16, 1, 2, 5, 0.0, True, "rotary"),
}


def corpus_of(mode: str):  # type: ignore[no-untyped-def]
    if mode == "lines":
        return LinesCorpus.from_text(NAMES + "\nsupercalifragilisticexpialidocious\n")  # a name > context
    return StreamCorpus(TEXT)  # no "\n": START reads a zero input


@pytest.mark.parametrize("mode", ["lines", "stream"])
@pytest.mark.parametrize("kind", sorted(MODULES))
def test_torch_loss_equals_the_numpy_evaluation(kind: str, mode: str) -> None:
    torch.manual_seed(3)
    corpus = corpus_of(mode)
    module = MODULES[kind](corpus.vocab().size)
    with torch.no_grad():  # larger weights than the init, so that differences would show
        for p in module.parameters():
            p.normal_(0.0, 0.4)
    trainee = TorchTrainee(module, corpus.vocab(), mode, False, "float32")
    ours, numpy_side = trainee.evaluate(corpus), evaluate(trainee.as_numpy(), corpus)
    assert ours.chars == numpy_side.chars
    assert ours.total_nats == pytest.approx(numpy_side.total_nats, rel=2e-5)
    assert module.training, "the module is back in training mode"
    assert trainee.estimate_eval_seconds(corpus) > 0.0


def test_a_long_text_evaluated_by_torch_equals_numpy_and_has_an_estimate() -> None:
    """(How much faster torch is belongs to a benchmark, not to a timed test.)"""
    corpus = StreamCorpus(TEXT * 4)
    module = TransformerLM(corpus.vocab().size, 64, 2, 4, 32, 0.0, False)
    trainee = TorchTrainee(module, corpus.vocab(), "stream", False, "float32")
    assert trainee.estimate_eval_seconds(corpus) > 0
    np.testing.assert_allclose(
        trainee.evaluate(corpus).nats, evaluate(trainee.as_numpy(), corpus).nats, rtol=2e-5
    )
