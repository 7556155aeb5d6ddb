"""The forwardkit conformance kit on every dynamic-spectrum-mixer component (three token mixers, the
dsm_tiny model, the band_energy analyzer)."""

from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="dynamic-spectrum-mixer")
