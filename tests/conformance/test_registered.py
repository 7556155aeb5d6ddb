"""The conformance kit on every component registered in the default registry (builtin and every
installed plugin), one test per (component, check); a plugin that fails to load fails here too."""

from forwardkit.testing import parametrize_conformance


@parametrize_conformance()
def test_conformance(case, forwardkit_check):
    forwardkit_check(case)
