"""The conformance kit on every nasnet component (models, callback, adapter, analyzer)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="nasnet")
