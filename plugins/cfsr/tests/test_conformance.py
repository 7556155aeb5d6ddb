"""The conformance kit on every cfsr component."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="cfsr")
