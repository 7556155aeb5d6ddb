"""The forwardkit conformance kit on this plugin's datasets (determinism, items and sizes vs metadata)."""

from __future__ import annotations

from forwardkit.testing import parametrize_conformance


@parametrize_conformance(plugin="datasets")
def test_conformance(case, forwardkit_check) -> None:
    forwardkit_check(case)
