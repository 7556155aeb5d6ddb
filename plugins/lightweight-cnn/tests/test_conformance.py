"""The conformance kit on every lightweight-cnn component (models, the stage-1 rule, the callbacks, the compressor)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="lightweight-cnn")
