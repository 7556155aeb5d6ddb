"""The conformance kit on every efficienttrain component (the callbacks' exact resume runs on 8 x 8 blobs images
with the plugin's CNN, interrupted in the middle of the curriculum's first stage)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="efficienttrain")
