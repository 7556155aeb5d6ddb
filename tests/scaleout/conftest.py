"""A local Ray cluster on 127.0.0.1 with 2 CPUs (one per test module), and tiny reproductions as fake plugins."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import pytest

TINY = '''
def spec(name, program=None):
    arms = {"baseline": {}, "method": {"model": {"hidden": [32]}}, "wide": {"model": {"hidden": [48]}}}
    if program:
        arms["broken"] = {"program": program}
    return {
        "paper": "Tiny test paper " + name, "arxiv": "0000.00000",
        "claim": "A wider hidden layer classifies blobs better.", "paper_result": "+1 point",
        "base": {"data": {"name": "blobs", "n_samples": 240, "num_classes": 3, "noise": 2.0},
                 "model": {"name": "mlp", "hidden": [4]},
                 "learning_rule": {"name": "backprop", "lr": 0.01},
                 "trainer": {"epochs": 1, "max_steps": 5, "batch_size": 32}},
        "arms": arms,
        "smoke": {"trainer": {"max_steps": 3}},
        "pass_bar": "method above baseline",
        "conditions": [{"kind": "compare", "method": "method", "baseline": "baseline"}],
        "seeds": [0, 1, 2], "expected_minutes": 0.1,
    }


ONE = spec("one")
TWO = spec("two")
BROKEN = spec("broken", program="json:dumps")  # dumps(config, seed=..., smoke=...) raises TypeError
'''


@pytest.fixture(scope="module")
def ray_cluster():
    """The address of a local Ray cluster (2 CPUs, a small object store) that this process has joined."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False,
             logging_level=logging.WARNING)
    address = ray.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:"), address
    yield address
    ray.shutdown()


@pytest.fixture
def tiny_specs(tmp_path_factory, monkeypatch):
    """A module ``fkscale_tiny`` on sys.path holding the specs ONE, TWO and BROKEN."""
    site = tmp_path_factory.mktemp("scaleout-site")
    (site / "fkscale_tiny.py").write_text(TINY)
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def fake_registry(tiny_specs):
    """The default registry: the builtin plugin and two fake plugins, ``tiny-one`` and ``tiny-two``, each
    declaring a tiny reproduction."""
    from forwardkit.registry import Registry, set_default_registry

    registry = Registry.discover(entry_points=False)
    for name, attr in (("tiny-one", "ONE"), ("tiny-two", "TWO")):
        module = types.ModuleType(f"fkfake_{attr.lower()}")
        module.forwardkit_register = lambda registry, attr=attr: registry.add_reproduction(spec=f"fkscale_tiny:{attr}")
        assert registry.load_plugin(name, lambda module=module: module).ok
    set_default_registry(registry)
    yield registry
    set_default_registry(None)


def load_tiny(attr: str):
    """The spec ``attr`` of the fake plugin module, parsed."""
    import importlib

    from forwardkit.reproduce.spec import parse_spec

    return parse_spec(importlib.import_module("fkscale_tiny").__dict__[attr])


def numbers(results: dict) -> dict:
    """The measured figures of a reproduction's results, without timings."""
    return {arm: [{k: v for k, v in f.items() if "per_s" not in k and "seconds" not in k} for f in a["final"]]
            for arm, a in results["arms"].items()}


ROOT = Path(__file__).resolve().parents[2]
