"""One torch thread for this plugin's tests: their tensors are tiny, and on a busy machine every parallel
region of a two-thread pool (softmax over a few rows, say) waits milliseconds for a descheduled worker,
which made the query-by-query reference checks a hundred times slower."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
