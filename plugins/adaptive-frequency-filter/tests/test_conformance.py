"""The forwardkit conformance kit on every component of this plugin."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="adaptive-frequency-filter")
