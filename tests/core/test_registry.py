"""Registry: discovery through entry points, per-plugin isolation, helpful unknown-name errors."""

from __future__ import annotations

import json
import textwrap
import types
from pathlib import Path

import pytest

from forwardkit import registry as registry_mod
from forwardkit.errors import ComponentConflictError, UnknownComponentError, UnknownKindError
from forwardkit.registry import Registry


def module_with(register) -> types.ModuleType:
    mod = types.ModuleType("fake_plugin")
    mod.forwardkit_register = register
    return mod


def good(registry):
    registry.add("token_mixer", "fake_mix", target="fake:Mix", summary="ok")


def test_builtin_registers_through_the_hook():
    reg = Registry.discover(entry_points=False)
    assert reg.plugins["builtin"].ok
    assert {"token_mixer/identity", "token_mixer/attention", "channel_mixer/mlp", "model/metaformer",
            "model/resnet", "model/mlp"} <= set(reg.plugins["builtin"].components)


def test_plugin_that_fails_to_import_is_isolated():
    reg = Registry.discover(entry_points=False)

    def boom():
        raise ImportError("no module named 'missing_dependency'")

    status = reg.load_plugin("broken", boom)
    reg.load_plugin("fine", lambda: module_with(good))
    assert not status.ok and "missing_dependency" in status.error
    assert reg.get("token_mixer", "fake_mix").plugin == "fine"
    assert [p.name for p in reg.failed_plugins()] == ["broken"]


def test_bad_hook_signature_is_reported():
    reg = Registry()

    def wrong(reg, extra):  # pluggy rejects arguments that the hookspec does not have
        pass

    status = reg.load_plugin("badsig", lambda: module_with(wrong))
    assert not status.ok and "invalid hook" in status.error


def test_hook_that_raises_registers_nothing_of_that_plugin():
    reg = Registry()

    def half(registry):
        registry.add("token_mixer", "first", target="m:A")
        raise RuntimeError("oops")

    status = reg.load_plugin("half", lambda: module_with(half))
    assert not status.ok and "oops" in status.error
    assert ("token_mixer", "first") not in reg


def test_a_name_claimed_twice_is_a_conflict_nobody_wins_until_pinned():
    reg = Registry(pins={})
    first = reg.load_plugin("a", lambda: module_with(good))
    second = reg.load_plugin("b", lambda: module_with(good))
    with pytest.raises(ComponentConflictError, match=r"registered by several plugins \(a, b\)") as err:
        reg.get("token_mixer", "fake_mix")
    assert "FORWARDKIT_PIN=token_mixer/fake_mix=a or token_mixer/fake_mix=b" in str(err.value)
    assert not first.ok and not second.ok  # both are reported
    assert "also registered by plugin 'b'" in first.problems[0]
    assert "also registered by plugin 'a'" in second.problems[0]
    assert [c.plugin for c in reg.find("fake_mix")] == ["a", "b"]  # `forwardkit show` names both
    pinned = Registry(pins={"token_mixer/fake_mix": "b"})
    pinned.load_plugin("a", lambda: module_with(good))
    pinned.load_plugin("b", lambda: module_with(good))
    assert pinned.get("token_mixer", "fake_mix").plugin == "b"


def test_pins_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FORWARDKIT_PIN", "token_mixer/fake_mix=b, model/x=c")
    assert Registry().pins == {"token_mixer/fake_mix": "b", "model/x": "c"}


def test_a_plugin_that_exits_at_import_is_isolated():
    reg = Registry()

    def exits():
        raise SystemExit(3)

    status = reg.load_plugin("quits", exits)
    assert not status.ok and "SystemExit" in status.error
    reg.load_plugin("a", lambda: module_with(good))
    assert reg.get("token_mixer", "fake_mix").plugin == "a"

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reg.load_plugin("ctrl-c", interrupted)


def test_invalid_registrations_are_problems_not_crashes():
    reg = Registry()

    def bad(registry):
        registry.add("tokenmixer", "x", target="m:A")
        registry.add("token_mixer", "Bad Name", target="m:A")
        registry.add("token_mixer", "ok_name", target="not a path")
        registry.add("token_mixer", "fine", target="m:A")

    status = reg.load_plugin("bad", lambda: module_with(bad))
    assert len(status.problems) == 3
    assert reg.names("token_mixer") == ["fine"]


def test_unknown_name_gives_close_matches_and_other_kinds():
    reg = Registry.discover(entry_points=False)
    with pytest.raises(UnknownComponentError) as err:
        reg.get("token_mixer", "atention")
    assert "Did you mean 'attention'" in str(err.value)
    with pytest.raises(UnknownComponentError) as err:
        reg.get("token_mixer", "mlp")
    assert "exists as kind: channel_mixer, model" in str(err.value)
    with pytest.raises(UnknownKindError, match="allowed kinds"):
        reg.get("mixer", "attention")


def test_unknown_name_of_a_repository_plugin_names_the_pip_install(monkeypatch):
    fake = {"plugins": {"some-paper": {"components": ["token_mixer/paper_mixer"]}}}
    monkeypatch.setattr(registry_mod, "_catalog", fake)
    reg = Registry.discover(entry_points=False)
    with pytest.raises(UnknownComponentError) as err:
        reg.get("token_mixer", "paper_mixer")
    assert 'pip install "forwardkit[some-paper]"' in str(err.value)


def test_registration_is_lazy_no_component_module_imported(monkeypatch):
    import sys

    for mod in ("forwardkit.builtin.mixers", "forwardkit.builtin.metaformer"):
        monkeypatch.delitem(sys.modules, mod, raising=False)  # restored afterwards: later tests keep their classes
    Registry.discover()
    assert "forwardkit.builtin.mixers" not in sys.modules
    assert "forwardkit.builtin.metaformer" not in sys.modules


def _fake_distribution(site: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    info = site / f"{name.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[forwardkit]\n{lines}\n")
    for mod, source in modules.items():
        (site / f"{mod}.py").write_text(textwrap.dedent(source))


def test_real_entry_points_broken_plugins_do_not_break_listing(tmp_path, cli):
    site = tmp_path / "site"
    _fake_distribution(site, "fk-good", {"goodplug": "fk_good"}, {"fk_good": """
        def forwardkit_register(registry):
            registry.add("token_mixer", "good_mixer", target="fk_good:Nope", summary="fine")
        """})
    _fake_distribution(site, "fk-raises", {"raises": "fk_raises"}, {"fk_raises": "raise RuntimeError('import boom')\n"})
    _fake_distribution(site, "fk-taken", {"taken": "fk_taken"}, {"fk_taken": """
        def forwardkit_register(registry):
            registry.add("token_mixer", "attention", target="fk_taken:A")
        """})
    result = cli("list", "--json", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    names = {(c["kind"], c["name"]): c["plugin"] for c in data["components"]}
    assert names[("token_mixer", "good_mixer")] == "goodplug"
    assert ("token_mixer", "attention") not in names  # claimed by builtin and by "taken": nobody wins
    failed = {p["name"]: p for p in data["failed_plugins"]}
    assert "import boom" in failed["raises"]["error"]
    assert "also registered by plugin 'builtin'" in failed["taken"]["problems"][0]
    assert "also registered by plugin 'taken'" in failed["builtin"]["problems"][0]
    pinned = cli("list", "--json", env={"PYTHONPATH": str(site), "FORWARDKIT_PIN": "token_mixer/attention=builtin"})
    assert {(c["kind"], c["name"]): c["plugin"] for c in json.loads(pinned.stdout)["components"]}[
        ("token_mixer", "attention")] == "builtin"
    doctor = cli("doctor", env={"PYTHONPATH": str(site)})
    assert doctor.returncode == 1
    assert "import boom" in doctor.stdout


def test_colliding_entry_points_and_exiting_plugins_are_reported(tmp_path, cli):
    site = tmp_path / "site"
    _fake_distribution(site, "fk-quits", {"quits": "fk_quits"}, {"fk_quits": "raise SystemExit(3)\n"})
    for dist, module in (("fk-one", "fk_one"), ("fk-two", "fk_two")):
        _fake_distribution(site, dist, {"dupe": module}, {module: f"""
            def forwardkit_register(registry):
                registry.add("token_mixer", "{module}_mixer", target="{module}:M")
            """})
    result = cli("list", "--json", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    failed = {p["name"]: p for p in data["failed_plugins"]}
    assert "SystemExit" in failed["quits"]["error"]
    assert {"dupe", "dupe#fk-two"} <= set(failed)  # both loaded, neither displaced the other
    assert all("entry-point name 'dupe' is used by several distributions" in " ".join(failed[n]["problems"])
               for n in ("dupe", "dupe#fk-two"))
    names = {c["name"] for c in data["components"]}
    assert {"fk_one_mixer", "fk_two_mixer", "attention"} <= names


def test_doctor_deep_imports_every_target(tmp_path, cli):
    site = tmp_path / "site"
    _fake_distribution(site, "fk-wrong", {"wrongpath": "fk_wrong"}, {"fk_wrong": """
        def forwardkit_register(registry):
            registry.add("token_mixer", "wrong_mixer", target="fk_wrong:DoesNotExist", config="fk_wrong:Nope")
        """})
    shallow = cli("doctor", env={"PYTHONPATH": str(site)})
    assert shallow.returncode == 0, shallow.stdout  # registration alone does not import the class
    deep = cli("doctor", "--deep", env={"PYTHONPATH": str(site)})
    assert deep.returncode == 1
    assert "token_mixer/wrong_mixer: cannot import its class" in deep.stdout and "DoesNotExist" in deep.stdout
    data = json.loads(cli("doctor", "--deep", "--json", env={"PYTHONPATH": str(site)}).stdout)
    assert {(i["component"], i["what"]) for i in data["imports"]} == {("token_mixer/wrong_mixer", "class"),
                                                                      ("token_mixer/wrong_mixer", "config")}


def test_a_model_built_against_an_explicit_registry_deep_copies_and_shares_it() -> None:
    import copy

    import forwardkit

    reg = forwardkit.get_registry()
    model = forwardkit.build_model({"name": "metaformer", "depths": [1], "dims": [8], "token_mixers": "pooling"},
                                   registry=reg)
    clone = copy.deepcopy(model)              # adapters and compressors copy models this way
    assert copy.deepcopy(reg) is reg
    assert clone is not model and sum(p.numel() for p in clone.parameters()) == sum(
        p.numel() for p in model.parameters())
