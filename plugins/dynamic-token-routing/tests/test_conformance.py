"""The conformance kit on every dynamic-token-routing component."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="dynamic-token-routing")
