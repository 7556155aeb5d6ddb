"""Run this plugin's tests on one torch thread (as the conformance kit runs its checks): the inputs are tiny, and
on a busy 2-core machine torch's thread pool costs more than it gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
