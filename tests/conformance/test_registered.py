"""The conformance kit on every registered component that no plugin of this repository tests itself: the
builtin plugin and any plugin installed from elsewhere, one test per (component, check); a plugin that
fails to load fails here too. Each plugin under plugins/ runs the kit on its own components in its own
tests (so its cost is charged to it), which the last test makes sure of."""

from pathlib import Path

from forwardkit.registry import default_registry
from forwardkit.testing import parametrize_conformance

ROOT = Path(__file__).resolve().parents[2]
REPO_PLUGINS = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml"))
OTHERS = sorted(set(default_registry().plugins) - set(REPO_PLUGINS))


@parametrize_conformance(plugin=OTHERS)
def test_conformance(case, forwardkit_check):
    forwardkit_check(case)


def test_every_repository_plugin_runs_the_kit_in_its_own_tests():
    def tests_of(slug):
        return (f.read_text(encoding="utf-8") for f in (ROOT / "plugins" / slug).glob("tests/*.py"))

    missing = [slug for slug in REPO_PLUGINS
               if not any(("make_conformance_test(" in t or "parametrize_conformance(" in t) and slug in t
                          for t in tests_of(slug))]
    assert not missing, f"plugins whose tests do not run the conformance kit on themselves: {missing}"
