"""Run this plugin's tests on one torch thread (as the conformance kit runs its checks): the inputs are tiny,
and on a busy 2-core machine torch's 2-thread pool made a 28 x 28 forward of the tiny HaloNet take ~1.5 s
instead of ~5 ms."""

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
