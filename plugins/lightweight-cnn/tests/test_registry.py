"""Every card component is registered with the paper, and its config builds from its name alone."""

from __future__ import annotations

import forwardkit

COMPONENTS = [("model", "tiny_branch_cnn"), ("model", "dual_io_model"), ("model", "unified_model"),
              ("learning_rule", "dual_io_rule"), ("callback", "progressive_unfreezing"),
              ("callback", "lightweight_augment"), ("compressor", "size_report")]


def test_components_are_registered_with_the_paper():
    registry = forwardkit.get_registry()
    for kind, name in COMPONENTS:
        info = registry.get(kind, name)
        assert info.plugin == "lightweight-cnn" and info.paper is not None and info.paper.arxiv == "2501.15547"
        assert forwardkit.create(kind, name) is not None
