"""The conformance kit on every dann component (the rule's exact resume runs with trainer.paired on mnistm_digits)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="dann")
