"""The conformance kit on every selfie component (the rule's exact-resume and stage checks run on 8 x 8 blobs
images with a tiny selfie_pretrainer: a 2 x 2 grid of 4 x 4 patches)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="selfie")
