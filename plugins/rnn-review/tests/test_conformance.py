"""The conformance kit on every rnn-review component."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="rnn-review")
