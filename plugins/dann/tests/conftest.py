"""One torch thread for this plugin's tests: their tensors are tiny, and on a shared machine a two-thread pool
waits for a descheduled worker in every parallel region."""

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
