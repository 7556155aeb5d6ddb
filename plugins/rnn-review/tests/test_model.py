"""rnn_sequence_model: heads per task, filled from the data, streaming equal to the plain forward."""

from __future__ import annotations

import pytest
import torch
from forwardkit_rnn_review.model import STATE_KEY

import forwardkit
from forwardkit.errors import ForwardkitError


@pytest.mark.parametrize(("task", "shape"), [("last_step_regression", (3, 1)), ("sequence_classification", (3, 4)),
                                             ("tagging", (3, 7, 4))])
def test_heads(task, shape):
    classes = 1 if task == "last_step_regression" else 4
    model = forwardkit.create("model", "rnn_sequence_model", dim=8, in_channels=2, num_classes=classes, task=task)
    assert model(torch.randn(3, 7, 2)).shape == shape


def test_fields_follow_the_data():
    from forwardkit_rnn_review.model import RNNSequenceModel

    meta = forwardkit.create("dataset", "two_sided_tagging", num_train=4, num_val=2, num_test=2).metadata
    assert RNNSequenceModel.fields_from_metadata(meta) == {"in_channels": 1, "num_classes": 2, "task": "tagging"}
    meta = forwardkit.create("dataset", "adding_problem", num_train=4, num_val=2, num_test=2).metadata
    assert RNNSequenceModel.fields_from_metadata(meta) == {"in_channels": 2, "num_classes": 1,
                                                           "task": "last_step_regression"}


@pytest.mark.parametrize("mixer", ["lstm_mixer", "gru_mixer", "elman_rnn_mixer"])
def test_streaming_in_one_window_is_the_forward(mixer):
    model = forwardkit.create("model", "rnn_sequence_model", dim=8, depth=2, token_mixer=mixer).double()
    x = torch.randn(3, 9, 2, dtype=torch.float64)
    state = model.init_state(3, like=x)
    assert state.shape == (3, 2, 2 if mixer == "lstm_mixer" else 1, 8)
    out, end = model.forward_batch({"x": x, STATE_KEY: state})
    torch.testing.assert_close(out, model(x))
    assert end.shape == state.shape and end.abs().sum() > 0


def test_a_model_with_a_bidirectional_mixer_does_not_stream():
    model = forwardkit.create("model", "rnn_sequence_model", dim=8, token_mixer="bidirectional_mixer")
    assert not model.streamable
    with pytest.raises(ForwardkitError, match="cannot stream"):
        model.init_state(2, like=torch.zeros(1))
