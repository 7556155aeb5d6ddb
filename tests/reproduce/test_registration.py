"""Registrar.add_reproduction: staged with the plugin's components, recorded in Registry.reproductions."""

from __future__ import annotations

import types

from forwardkit.registry import Registry


def fake_plugin(register):
    mod = types.ModuleType("fkfake_repro_plugin")
    mod.forwardkit_register = register
    return mod


def test_a_plugin_declares_its_reproduction_next_to_its_components():
    def register(registry):
        registry.add("token_mixer", "fk_repro_mixer", target="x.y:Mixer")
        registry.add_reproduction(spec="fkfake_repro_plugin.reproduction:SPEC")

    registry = Registry()
    status = registry.load_plugin("fake", lambda: fake_plugin(register))
    assert status.ok, status
    assert registry.reproductions == {"fake": "fkfake_repro_plugin.reproduction:SPEC"}
    assert status.components == ["token_mixer/fk_repro_mixer"]


def test_a_yaml_resource_is_accepted_and_bad_paths_are_problems():
    registry = Registry()
    registry.load_plugin("yaml", lambda: fake_plugin(lambda registry: registry.add_reproduction(
        spec="fkfake_pkg:reproductions/tiny-run.yaml")))
    assert registry.reproductions == {"yaml": "fkfake_pkg:reproductions/tiny-run.yaml"}
    bad = registry.load_plugin("bad", lambda: fake_plugin(lambda registry: registry.add_reproduction(spec="nocolon")))
    assert not bad.ok and "reproduction: spec must be" in bad.problems[0]
    assert "bad" not in registry.reproductions


def test_declaring_twice_keeps_the_first_and_reports_a_problem():
    def register(registry):
        registry.add_reproduction(spec="a.b:ONE")
        registry.add_reproduction(spec="a.b:TWO")

    registry = Registry()
    status = registry.load_plugin("twice", lambda: fake_plugin(register))
    assert not status.ok and "declared twice" in status.problems[0]
    assert registry.reproductions == {"twice": "a.b:ONE"}


def test_a_plugin_whose_hook_raises_commits_no_reproduction():
    def register(registry):
        registry.add_reproduction(spec="a.b:SPEC")
        raise RuntimeError("boom")

    registry = Registry()
    status = registry.load_plugin("broken", lambda: fake_plugin(register))
    assert not status.ok and "boom" in (status.error or "")
    assert registry.reproductions == {}


def test_discovered_plugins_without_a_reproduction_record_none():
    registry = Registry.discover()
    assert "builtin" in registry.plugins and "builtin" not in registry.reproductions
