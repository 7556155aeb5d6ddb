"""Filter extraction: exact counts, skipped kernel sizes, depthwise/transposed handling, conv_depth."""

from __future__ import annotations

import numpy as np
import torch
from forwardkit_cnn_filter_db.extract import FilterExtractor, conv_depths, extract_filters, extract_table
from torch import nn

import forwardkit


class Branchy(nn.Module):
    """c0 -> (a1 -> a2) + b1(1x1) -> c3 -> depthwise -> 5x5 -> transposed -> linear; c3 registered first."""

    def __init__(self) -> None:
        super().__init__()
        self.c3 = nn.Conv2d(4, 8, 3, padding=1)
        self.c0 = nn.Conv2d(1, 4, 3, padding=1)
        self.a1 = nn.Conv2d(4, 4, 3, padding=1)
        self.a2 = nn.Conv2d(4, 4, 3, padding=1)
        self.b1 = nn.Conv2d(4, 4, 1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.big = nn.Conv2d(8, 8, 5, padding=2)
        self.up = nn.ConvTranspose2d(8, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c0(x.permute(0, 3, 1, 2))
        h = self.c3(self.a2(torch.relu(self.a1(h))) + self.b1(h))
        h = self.up(self.big(self.dw(h)))
        return self.fc(h.mean(dim=(2, 3)))


def _batch() -> list[dict[str, torch.Tensor]]:
    return [{"x": torch.randn(2, 6, 6, 1)}]


def test_counts_are_sum_of_out_times_in_over_groups_of_3x3_convs() -> None:
    model = Branchy()
    table = extract_table(model, data=_batch())
    expected = 4 * 1 + 4 * 4 + 4 * 4 + 8 * 4 + 8 * 1 + 4 * 8  # c0, a1, a2, c3, depthwise, transposed
    assert table.filters.shape == (expected, 9)
    names = [layer.name for layer in table.layers]
    assert "b1" not in names and "big" not in names and "fc" not in names
    dw = next(layer for layer in table.layers if layer.name == "dw")
    assert dw.depthwise and dw.n_filters == 8


def test_options_drop_depthwise_and_transposed() -> None:
    table = extract_table(Branchy(), data=_batch(), include_depthwise=False, include_transposed=False)
    assert {layer.name for layer in table.layers} == {"c0", "a1", "a2", "c3"}
    assert len(table.filters) == 4 + 16 + 16 + 32


def test_transposed_kernels_are_permuted_to_out_in() -> None:
    model = Branchy()
    table = extract_table(model, data=_batch())
    up = next(layer for layer in table.layers if layer.name == "up")
    w = model.up.weight.detach().numpy()  # (in=8, out=4, 3, 3)
    assert up.weight.shape == (4, 8, 3, 3)
    np.testing.assert_allclose(up.weight[1, 5], w[5, 1])
    np.testing.assert_allclose(table.filters[up.start:up.stop], w.transpose(1, 0, 2, 3).reshape(-1, 9))


def test_conv_depth_follows_the_longest_path_not_registration_order() -> None:
    depths, method = conv_depths(Branchy(), _batch())
    assert method == "autograd"
    assert depths == {"c3": 3, "c0": 0, "a1": 1, "a2": 2, "b1": 1, "dw": 4, "big": 5, "up": 6}
    table = extract_table(Branchy(), data=_batch())
    assert [layer.name for layer in table.layers] == ["c0", "a1", "a2", "c3", "dw", "up"]
    assert table.layers[-1].conv_depth_norm == 1.0 and table.layers[0].conv_depth_norm == 0.0


def test_fx_fallback_agrees_without_data() -> None:
    model = Branchy()
    depths, method = conv_depths(model)  # no data and no example_batch: torch.fx
    assert method == "fx" and depths["c3"] == 3 and depths["up"] == 6


def test_filter_cnn_table_and_functional_form() -> None:
    model = forwardkit.create("model", "filter_cnn", width=4, depth=3)
    filters, rows = extract_filters(model)
    assert filters.shape == (4 * 1 + 8 * 4 + 16 * 8, 9) and len(rows) == len(filters)
    np.testing.assert_allclose(filters[:4], model.features[0].weight.detach().reshape(4, 9).numpy())
    assert rows[5] == {"layer": 1, "name": "features.3", "conv_depth": 1, "conv_depth_norm": 0.5, "out": 0, "in": 1}
    analysis = FilterExtractor(plots=False).analyze(model)
    assert analysis.numbers["n_filters"] == len(filters) and analysis.numbers["max_conv_depth"] == 2
    assert len(analysis.tables["filters"]) == len(filters)
