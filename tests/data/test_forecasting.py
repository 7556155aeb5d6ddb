"""The forecasters' shared helpers: normalisation round trip, sizes from metadata, target selection."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from pydantic import BaseModel

from forwardkit.data import denormalize_windows, example_windows, forecaster_fields, normalize_windows, select_targets


class _WithVariates(BaseModel):
    lookback: int = 1
    horizon: int = 1
    num_variates: int = 1
    targets: list[int] | None = None


class _Plain(BaseModel):
    lookback: int = 1
    horizon: int = 1


def test_normalized_windows_have_zero_mean_unit_std_and_invert() -> None:
    x = torch.randn(3, 20, 4, dtype=torch.float64) * 5 + 2
    z, mu, sigma = normalize_windows(x, eps=0.0)
    assert mu.shape == sigma.shape == (3, 1, 4)
    torch.testing.assert_close(z.mean(dim=1), torch.zeros(3, 4, dtype=torch.float64))
    torch.testing.assert_close(z.var(dim=1, unbiased=False), torch.ones(3, 4, dtype=torch.float64))
    torch.testing.assert_close(denormalize_windows(z, mu, sigma), x)


def test_fields_come_from_the_shapes_and_the_target_index() -> None:
    meta = SimpleNamespace(input_shape=(96, 7), target_shape=(24, 2), extra={"target_index": [3, 5]})
    assert forecaster_fields(_WithVariates, meta) == {"lookback": 96, "num_variates": 7, "horizon": 24,
                                                      "targets": [3, 5]}
    assert forecaster_fields(_Plain, meta) == {"lookback": 96, "horizon": 24}


def test_example_windows_select_the_targets() -> None:
    batch = example_windows(8, 3, 2, [4], 5, torch.Generator().manual_seed(0))
    assert batch["x"].shape == (5, 8, 5) and batch["y"].shape == (5, 3, 1)
    y = torch.arange(12.0).view(1, 2, 6)
    assert select_targets(y, None) is y and select_targets(y, [1, 5]).tolist() == [[[1.0, 5.0], [7.0, 11.0]]]
