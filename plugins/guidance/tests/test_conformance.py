"""The conformance kit on every guidance component."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="guidance")
