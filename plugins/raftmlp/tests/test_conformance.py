"""The conformance kit on every component of the raftmlp plugin."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="raftmlp")
