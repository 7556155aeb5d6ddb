"""The conformance kit on every look-pretraining component (the rules' exact-resume checks run on 8x8 digits with a
narrow look_cnn, declared as their conformance_experiment)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="look-pretraining")
