"""The CLI: listing, showing, validating, schema; errors exit 2 with one paragraph, no traceback."""

from __future__ import annotations

import json
import re

import yaml


def test_list_and_show(cli):
    listed = cli("list", "--kind", "token_mixer", "--json")
    assert listed.returncode == 0
    names = {c["name"] for c in json.loads(listed.stdout)["components"]}
    assert {"identity", "attention"} <= names
    shown = cli("show", "attention", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["kind"] == "token_mixer" and data["paper"]["arxiv"] == "1706.03762"
    fields = {f["name"]: f for f in data["fields"]}
    assert fields["head_dim"]["default"] == 32 and fields["head_dim"]["constraints"] == {"minimum": 1}
    table = cli("show", "metaformer")
    assert table.returncode == 0 and "token_mixers" in table.stdout


def test_show_name_under_several_kinds_shows_each(cli):
    both = json.loads(cli("show", "mlp", "--json").stdout)
    assert {d["kind"] for d in both} == {"channel_mixer", "model"}
    one = json.loads(cli("show", "mlp", "--kind", "model", "--json").stdout)
    assert one["kind"] == "model"


def test_unknown_name_exits_2_with_suggestion_and_no_traceback(cli):
    result = cli("show", "atention")
    assert result.returncode == 2
    assert "Did you mean 'attention'" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_good_and_bad_files(cli, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"data": "blobs", "model": {"name": "mlp", "hidden": [32]}}))
    ok = cli("validate", str(good))
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"data": "blobs", "model": {"name": "mlp", "act": "swish", "hiden": [3]}}))
    result = cli("validate", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "model: unknown field 'hiden' (did you mean 'hidden'?)" in result.stderr
    missing = cli("validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "file not found" in missing.stderr


def test_schema_holds_every_installed_component(cli, tmp_path):
    out = tmp_path / "schema.json"
    result = cli("schema", "-o", str(out))
    assert result.returncode == 0, result.stderr
    schema = json.loads(out.read_text())
    model_options = schema["$defs"]["model_spec"]["anyOf"]
    assert {"metaformer", "mlp", "resnet"} <= set(model_options[0]["enum"])  # plugins may add more
    titles = {o.get("title") for o in model_options[1:]}
    assert {"model/metaformer", "model/resnet", "model/mlp"} <= titles
    meta = next(o for o in model_options[1:] if o.get("title") == "model/metaformer")
    assert "token_mixers" in meta["properties"]


def test_plugin_new_refuses_to_overwrite(cli, tmp_path):
    first = cli("plugin", "new", "some-paper", "--dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    marker = tmp_path / "some-paper" / "README.md"
    marker.write_text("my notes")
    again = cli("plugin", "new", "some-paper", "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert marker.read_text() == "my notes"


def test_plugin_new_writes_valid_files_whatever_the_title(tmp_path):
    """Every scaffolded file parses (a title with quotes included) and the reproduction spec validates."""
    import ast
    import importlib.util
    import sys
    import tomllib

    from forwardkit.cli.scaffold import scaffold_plugin
    from forwardkit.reproduce.spec import ReproductionSpec

    title = 'Mean "Tokens" Are All You Need'
    folder = scaffold_plugin("quote-paper", parent=tmp_path, title=title, arxiv="2401.00001")
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["description"] == f"forwardkit plugin: {title}"
    assert project["project"]["optional-dependencies"]["test"] == ["forwardkit[test]"]
    for path in folder.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    name = "forwardkit_quote_paper_reproduction"
    spec = importlib.util.spec_from_file_location(name, folder / "forwardkit_quote_paper" / "reproduction.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    assert isinstance(module.SPEC, ReproductionSpec) and module.SPEC.paper == title
    assert module.SPEC.arms["method"] == {"model": {"token_mixers": "quote_paper_mixer"}}
    assert "quote_paper_loss_ema" in module.SPEC.base["callbacks"]
    plugin = (folder / "forwardkit_quote_paper" / "plugin.py").read_text()
    assert 'add_reproduction(spec="forwardkit_quote_paper.reproduction:SPEC")' in plugin


def test_schema_defines_each_kind_of_spec_once(cli, tmp_path):
    # nested specs (a rule wrapping a rule and a model, a model holding mixers) are $refs to one definition per
    # kind: the schema grows with the installed components, not with how deeply their configs nest
    out = tmp_path / "schema.json"
    assert cli("schema", "-o", str(out)).returncode == 0
    text = out.read_text()
    schema = json.loads(text)
    assert schema["properties"]["model"]["$ref"] == "#/$defs/model_spec"
    assert {"model_spec", "token_mixer_spec", "learning_rule_spec", "dataset_spec"} <= set(schema["$defs"])
    refs = set(re.findall(r'"\$ref": "#/\$defs/([^"]+)"', text))
    assert refs <= set(schema["$defs"]), sorted(refs - set(schema["$defs"]))
    meta = next(o for o in schema["$defs"]["model_spec"]["anyOf"][1:] if o.get("title") == "model/metaformer")
    assert {"$ref": "#/$defs/token_mixer_spec"} in meta["properties"]["token_mixers"]["anyOf"]  # one, or a list
    assert len(text) < 20_000_000
