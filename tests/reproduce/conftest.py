"""A tiny reproduction of builtin components, installed as a fake plugin (a dist-info on PYTHONPATH)."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = '''
SPEC = {
    "paper": "Tiny test paper", "arxiv": "0000.00000",
    "claim": "A wider hidden layer classifies blobs better.", "paper_result": "+1 point",
    "base": {"data": {"name": "blobs", "n_samples": 240, "num_classes": 3, "noise": 2.0},
             "model": {"name": "mlp", "hidden": [4]},
             "learning_rule": {"name": "backprop", "lr": 0.01},
             "trainer": {"epochs": 1, "max_steps": 5, "batch_size": 32}},
    "arms": {"baseline": {}, "method": {"model": {"hidden": [32]}}, "wide": {"model": {"hidden": [64]}}},
    "pass_bar": "method above baseline; method at least 0.3 accurate",
    "conditions": [{"kind": "compare", "method": "method", "baseline": "baseline"},
                   {"kind": "threshold", "figure": {"arm": "method"}, "op": ">=", "value": 0.3}],
    "seeds": [0, 1, 2], "expected_minutes": 0.1,
}


def forwardkit_register(registry):
    registry.add_reproduction(spec="fkrepro_tiny:SPEC")
'''


@pytest.fixture(scope="session")
def tiny_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    (site / "fkrepro_tiny.py").write_text(TINY)
    info = site / "fkrepro_tiny-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fkrepro-tiny\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[forwardkit]\ntiny = fkrepro_tiny\n")
    return site


def tiny_spec(**changes):
    """The tiny reproduction's spec (the dict the fake plugin declares), with ``changes``."""
    from forwardkit.reproduce.spec import parse_spec

    namespace: dict = {}
    exec(TINY, namespace)
    return parse_spec({**namespace["SPEC"], **changes})


def reproduce_here(spec, out, *, smoke=False, verbose=False):
    """A reproduction of ``spec`` in this process, one worker (no subprocess, no plugin install)."""
    from forwardkit.reproduce.runner import run_reproduction

    seeds = spec.seeds[:2] if smoke else None
    return run_reproduction(spec, slug="tiny", out_dir=out, seeds=seeds, smoke=smoke, workers=1, verbose=verbose)
