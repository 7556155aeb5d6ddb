"""The conformance kit on every widenet component."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="widenet")
