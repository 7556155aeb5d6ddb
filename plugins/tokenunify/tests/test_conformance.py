"""The conformance kit on every tokenunify component (the rule's exact resume runs on 8 x 8 unlabelled membrane
images with a two-level U-Net, and inside the second stage of a two-stage run)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="tokenunify")
