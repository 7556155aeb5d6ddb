"""The conformance kit on every metamixer component."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="metamixer")
