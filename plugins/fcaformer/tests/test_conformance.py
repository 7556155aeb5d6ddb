"""The conformance kit on every component of the fcaformer plugin (model/fcaformer, analyzer/fca_cross_attention)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="fcaformer")
