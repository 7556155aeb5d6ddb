"""The conformance kit on every mambamixer component."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="mambamixer")
