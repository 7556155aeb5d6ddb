"""The conformance kit on every vit-resnas component."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="vit-resnas")
