"""saurus: small character-level sequence models that invent new names and text.

>>> import numpy as np, saurus
>>> result = saurus.train_file("dinos.txt", saurus.TrainConfig(lowercase=True, time_budget=10))
>>> saurus.save(result.model, "dinos.saurus")
>>> saurus.generate_lines(saurus.load("dinos.saurus"), 5, np.random.default_rng(0))
"""

from saurus.corpus import LinesCorpus, StreamCorpus, make_corpus, read_text
from saurus.errors import DataError, ModelFileError, OptionError, SaurusError, VocabularyError
from saurus.evaluation import LossReport, evaluate, score_strings
from saurus.models import load, save
from saurus.sampling import generate_lines, generate_text, generate_texts, iter_lines, iter_text, iter_texts
from saurus.training import TrainConfig, TrainResult, train_file, train_text
from saurus.vocab import Vocab

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "LinesCorpus",
    "LossReport",
    "ModelFileError",
    "OptionError",
    "SaurusError",
    "StreamCorpus",
    "TrainConfig",
    "TrainResult",
    "Vocab",
    "VocabularyError",
    "__version__",
    "evaluate",
    "generate_lines",
    "generate_text",
    "generate_texts",
    "iter_lines",
    "iter_text",
    "iter_texts",
    "load",
    "make_corpus",
    "read_text",
    "save",
    "score_strings",
    "train_file",
    "train_text",
]
