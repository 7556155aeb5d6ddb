"""The forwardkit conformance kit on every component of this plugin (one pytest case per check),
including ``check_resume`` (bit-identical resume) for the callback."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="gradient-noise")
