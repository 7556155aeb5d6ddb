"""The conformance kit on every model-free-ff component."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="model-free-ff")
