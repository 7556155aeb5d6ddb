"""The forwardkit conformance kit on every ibn-net component (adapter, model, dataset, task, analyzer)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="ibn-net")
