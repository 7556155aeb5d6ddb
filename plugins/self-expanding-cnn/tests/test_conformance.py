"""The conformance kit on every self-expanding-cnn component (the callback's exact-resume checks grow the model
before the kit's interruption: a random expansion at the end of epoch 1; the score rule's own resume after a
growth is tests/test_resume.py)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="self-expanding-cnn")
