"""The conformance kit on every bt2 component (the rules' exact resume runs on 8 x 8 blobs images with a tiny
compat_system: old, independent and BT^2 members)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="bt2")
