"""Pytest fixtures for a plugin's own tests. A fixture defined here applies to a test folder once its
``conftest.py`` imports it::

    # plugins/<slug>/tests/conftest.py
    from forwardkit.testing.fixtures import one_torch_thread  # noqa: F401  (autouse: every test there)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

__all__ = ["one_torch_thread"]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run each test on one torch thread, as the conformance kit runs its checks, and restore the thread count
    after it. Plugin tests use tiny tensors, for which a 2-thread pool on a busy 2-core machine only adds
    waits for a descheduled worker (reference checks a hundred times slower, seen in combiner's tests)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
