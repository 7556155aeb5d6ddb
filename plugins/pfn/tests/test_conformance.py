"""The conformance kit on every pfn component (the rule's exact resume trains a tiny PFN on a tiny gp_prior)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="pfn")
