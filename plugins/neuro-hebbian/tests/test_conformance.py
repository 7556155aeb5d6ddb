"""The forwardkit conformance kit on every component of this plugin (test-time checks of the five rules, the
adapter on the kit's models, the reference CNN)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="neuro-hebbian")
