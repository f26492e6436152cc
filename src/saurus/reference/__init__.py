"""The classic from-scratch NumPy reference, in the exercises' column-vector convention.

Every function mirrors the classic exercise it comes from, so a learner can hold this
code against it line by line; the tests reproduce every published value.
"""

from saurus.reference.activations import sigmoid, softmax
from saurus.reference.gru import gru_backward, gru_cell_backward, gru_cell_forward, gru_forward
from saurus.reference.lstm import (
    lstm_backward,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
)
from saurus.reference.name_model import (
    TranscriptBlock,
    classic_training_run,
    clip,
    get_initial_loss,
    initialize_parameters,
    name_backward,
    name_forward,
    optimize,
    sample,
    smooth,
    update_parameters,
)
from saurus.reference.rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward

__all__ = [
    "TranscriptBlock",
    "classic_training_run",
    "clip",
    "get_initial_loss",
    "gru_backward",
    "gru_cell_backward",
    "gru_cell_forward",
    "gru_forward",
    "initialize_parameters",
    "lstm_backward",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "name_backward",
    "name_forward",
    "optimize",
    "rnn_backward",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "rnn_forward",
    "sample",
    "sigmoid",
    "smooth",
    "softmax",
    "update_parameters",
]
