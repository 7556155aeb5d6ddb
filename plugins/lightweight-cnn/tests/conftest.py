"""One torch thread for this plugin's tests: the models are tiny, and on a busy two-core machine a two-thread
pool waits for descheduled workers in every small convolution."""

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
