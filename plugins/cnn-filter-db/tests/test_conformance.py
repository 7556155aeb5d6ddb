"""The forwardkit conformance kit on every cnn-filter-db component (one pytest case per check)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="cnn-filter-db")
