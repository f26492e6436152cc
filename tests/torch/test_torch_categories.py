"""Labelled models in torch: the torch engine's validation loss, each name given its own
category, equals the NumPy evaluation of the exported model for every family; a NumPy
model goes to torch and back unchanged (categories included); training by either engine
learns what sets the categories apart."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
import torch

from saurus.data.labelled import labelled_corpus
from saurus.generation.categories import one_hot
from saurus.generation.scoring import evaluate
from saurus.training.backends.torch.convert import recurrent_from_numpy, to_numpy, transformer_from_numpy
from saurus.training.backends.torch.modules import RecurrentLM, TransformerLM
from saurus.training.backends.torch.train import TorchTrainee
from saurus.training.loop import TrainConfig, train_text

PAIRS = (
    [(f"{a}{b}an", "irish") for a in "bcdfg" for b in "aeiou"]
    + [(f"{a}{b}ini", "italian") for a in "bcdfg" for b in "aeiou"]
    + [("kim", "korean"), ("park", "korean"), ("lee", "korean")]
    + [("supercalifragilisticexpialidocious", "italian")]  # longer than a transformer's context
)
TEXT = "".join(f"{n}\t{label}\n" for n, label in PAIRS)
K = 3
MODULES = {
    "lstm": lambda v: RecurrentLM(v, "lstm", 12, 2, 0.0, categories=K),
    "gru": lambda v: RecurrentLM(v, "gru", 12, 1, 0.0, categories=K),
    "rnn": lambda v: RecurrentLM(v, "rnn", 12, 1, 0.0, categories=K),
    "transformer": lambda v: TransformerLM(v, 16, 2, 2, 8, 0.0, False, categories=K),
    "rotary": lambda v: TransformerLM(v, 16, 1, 2, 5, 0.0, True, "rotary", categories=K),
}


def trainee_of(kind: str) -> tuple[TorchTrainee, object]:
    torch.manual_seed(3)
    corpus = labelled_corpus(TEXT)
    module = MODULES[kind](corpus.vocab().size)
    with torch.no_grad():  # larger weights than the init, so that differences would show
        for p in module.parameters():
            p.normal_(0.0, 0.4)
    trainee = TorchTrainee(module, corpus.vocab(), "lines", False, "float32")
    trainee.categories, trainee.category_counts = corpus.categories, corpus.category_counts()
    return trainee, corpus


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_the_torch_loss_by_category_equals_the_numpy_evaluation(kind: str) -> None:
    trainee, corpus = trainee_of(kind)
    model = trainee.as_numpy()
    assert model.categories == ("irish", "italian", "korean")
    ours, numpy_side = trainee.evaluate(corpus), evaluate(model, corpus)
    assert ours.chars == numpy_side.chars
    assert ours.total_nats == pytest.approx(numpy_side.total_nats, rel=2e-5)
    # and each category matters: scoring every name as Korean gives another figure
    korean = evaluate(model.conditioned(one_hot(2, K)), corpus.part(list(range(len(corpus.examples)))))
    assert abs(korean.total_nats - numpy_side.total_nats) > 1e-3


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_a_labelled_model_goes_to_torch_and_back_unchanged(kind: str) -> None:
    trainee, corpus = trainee_of(kind)
    model = trainee.as_numpy()
    back_module = (
        transformer_from_numpy(model) if kind in ("transformer", "rotary") else recurrent_from_numpy(model)
    )
    back = to_numpy(
        back_module,
        model.vocab,
        "lines",
        lowercase=False,
        categories=model.categories,
        category_counts=model.category_counts,
    )
    assert evaluate(back, corpus).total_nats == pytest.approx(evaluate(model, corpus).total_nats, rel=1e-5)


@pytest.mark.parametrize("engine,model", [("numpy", "lstm"), ("torch", "gru"), ("torch", "transformer")])
def test_training_learns_the_categories(engine: str, model: str) -> None:
    """Names ending in -an are Irish, in -ini Italian: after training, the Irish model gives
    "dean" more probability than the Italian one, and "dini" the other way round."""
    extra = {"heads": 2} if model == "transformer" else {}
    lr = 0.005 if model == "transformer" else 0.02
    cfg = TrainConfig(
        labelled=True,
        engine=engine,
        model=model,
        hidden=32,
        layers=1,
        iterations=150,
        lr=lr,
        batch_size=16,
        val_fraction=0.0,
        **extra,
    )
    trained = train_text(TEXT * 3, cfg).model
    irish, italian = (trained.conditioned(one_hot(k, K)) for k in (0, 1))
    an, ini = "dean", "dini"
    assert irish.score([an])[0].nats < italian.score([an])[0].nats
    assert italian.score([ini])[0].nats < irish.score([ini])[0].nats
