"""forwardkit.data.example_batch (data if given, else the model's example_batch) and forward_batch."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import forwardkit
from forwardkit.data import TensorSplit, example_batch, forward_batch
from forwardkit.errors import ForwardkitError


def batches(n_batches: int, size: int) -> list[dict[str, torch.Tensor]]:
    return [{"x": torch.full((size, 3), float(i)), "y": torch.arange(size) + 10 * i} for i in range(n_batches)]


def model():
    return forwardkit.build_model({"name": "mlp", "in_features": 3, "hidden": [4], "num_classes": 2})


def test_the_first_batch_of_the_data_as_it_is():
    data = batches(3, 4)
    out = example_batch(data, model())
    assert torch.equal(out["x"], data[0]["x"]) and torch.equal(out["y"], data[0]["y"])
    assert torch.equal(example_batch(data[1], None)["y"], data[1]["y"])  # one batch dict


def test_batch_size_concatenates_batches_and_cuts():
    out = example_batch(batches(3, 4), model(), batch_size=6)
    assert out["y"].tolist() == [0, 1, 2, 3, 10, 11]
    assert example_batch(batches(3, 4), None, batch_size=2)["y"].tolist() == [0, 1]
    assert len(example_batch(batches(2, 4), None, batch_size=100)["y"]) == 8  # fewer if the data has fewer


def test_only_the_batches_needed_are_drawn():
    drawn = []

    def stream():
        for b in batches(5, 4):
            drawn.append(b)
            yield b

    example_batch(stream(), None, batch_size=5)
    assert len(drawn) == 2


def test_data_loaders_and_bare_tensors():
    split = TensorSplit(torch.randn(10, 3), torch.arange(10))
    out = example_batch(DataLoader(split, batch_size=4), model())
    assert out["x"].shape == (4, 3) and out["y"].tolist() == [0, 1, 2, 3]
    tensors = example_batch([torch.ones(2, 3)], model())
    assert list(tensors) == ["x"]
    with pytest.raises(TypeError, match="batch dicts"):
        example_batch([1, 2], model())


def test_without_data_the_models_example_batch_from_the_seed():
    m = model()
    expected = m.example_batch(5, generator=torch.Generator().manual_seed(3))
    for data in (None, []):
        got = example_batch(data, m, batch_size=5, seed=3)
        assert all(torch.equal(got[k], expected[k]) for k in expected)
    state = torch.random.get_rng_state()
    assert example_batch(None, m)["x"].shape == (2, 3)  # default size
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is untouched


def test_neither_data_nor_an_example_batch_is_a_clear_error():
    with pytest.raises(ForwardkitError, match="no example_batch"):
        example_batch(None, nn.Linear(3, 2))
    with pytest.raises(ForwardkitError, match="no batch"):
        example_batch([], None)


def test_device():
    out = example_batch(batches(1, 2), None, device="meta")
    assert out["x"].device.type == "meta"


def test_forward_batch_for_models_and_plain_modules():
    m = model()
    batch = {"x": torch.randn(2, 3), "y": torch.zeros(2, dtype=torch.long)}
    assert torch.equal(forward_batch(m, batch), m(batch["x"]))
    linear = nn.Linear(3, 2)
    assert torch.equal(forward_batch(linear, batch), linear(batch["x"]))

    class Keyed(nn.Linear):
        input_key = "features"

    keyed = Keyed(3, 2)
    assert torch.equal(forward_batch(keyed, {"features": batch["x"]}), keyed(batch["x"]))
