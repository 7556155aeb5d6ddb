"""The conformance kit on every component of this plugin: the rule's exact resume (in one run and inside the
second stage of a multi-stage run), the model's checks and export, the compressor's measured report."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="gradient-boosting-nn")
