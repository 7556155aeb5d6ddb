"""Configs: YAML, JSON, dicts and keyword arguments validate the same way, errors carry field paths."""

from __future__ import annotations

import json

import pytest
import yaml
from pydantic import ValidationError

from forwardkit.config import ComponentConfig, Experiment, TokenMixerSpec, load_experiment, validate_experiment
from forwardkit.errors import ConfigError
from forwardkit.registry import Registry

GOOD = {
    "name": "demo",
    "data": "blobs",
    "model": {
        "name": "metaformer",
        "depths": [1, 1, 1, 1],
        "token_mixers": ["identity", "identity", {"name": "attention", "head_dim": 8}, "attention"],
    },
    "trainer": {"epochs": 2, "batch_size": 32},
    "seed": 3,
}
BAD = {
    "data": "blobs",
    "model": {
        "name": "metaformer",
        "norm": "bn",
        "token_mixers": ["identity", {"name": "attention", "head_dim": 0}, "atention", "identity"],
    },
    "trainer": {"epoch": 2},
}


def _issues(source) -> list[str]:
    with pytest.raises(ConfigError) as err:
        source()
    return [f"{i.loc}: {i.msg}" for i in err.value.issues]


def test_yaml_json_dict_and_kwargs_validate_the_same(tmp_path):
    y, j = tmp_path / "e.yaml", tmp_path / "e.json"
    y.write_text(yaml.safe_dump(GOOD))
    j.write_text(json.dumps(GOOD))
    results = [load_experiment(y), load_experiment(j), validate_experiment(GOOD), validate_experiment(None, **GOOD)]
    dumps = [r.to_dict() for r in results]
    assert all(d == dumps[0] for d in dumps)
    assert dumps[0]["model"]["token_mixers"][2]["head_dim"] == 8
    # a dumped experiment validates back to the same thing
    assert validate_experiment(dumps[0]).to_dict() == dumps[0]

    bad_y, bad_j = tmp_path / "b.yaml", tmp_path / "b.json"
    bad_y.write_text(yaml.safe_dump(BAD))
    bad_j.write_text(json.dumps(BAD))
    sources = [lambda: load_experiment(bad_y), lambda: load_experiment(bad_j),
               lambda: validate_experiment(BAD), lambda: validate_experiment(None, **BAD)]
    issues = [_issues(s) for s in sources]
    assert all(i == issues[0] for i in issues)


def test_errors_name_the_field_path_and_allowed_values():
    with pytest.raises(ConfigError) as err:
        validate_experiment(BAD)
    by_loc = {i.loc: i for i in err.value.issues}
    assert "model.token_mixers.1.head_dim" in by_loc
    assert "greater than or equal to 1" in by_loc["model.token_mixers.1.head_dim"].msg
    assert "Did you mean 'attention'" in by_loc["model.token_mixers.2"].msg
    assert "'layernorm'" in by_loc["model.norm.0"].msg
    trainer = by_loc["trainer"]
    assert "unknown field 'epoch' (did you mean 'epochs'?)" in trainer.msg and "epochs" in trainer.allowed
    text = str(err.value)
    assert text.startswith("invalid configuration (")
    assert "model.token_mixers.1.head_dim" in text


def test_unknown_component_lists_allowed_names_when_nothing_is_close():
    with pytest.raises(ConfigError) as err:
        validate_experiment({"data": "blobs", "model": "zzzzzz"}, registry=Registry.discover(entry_points=False))
    (issue,) = err.value.issues
    assert issue.loc == "model" and "Known model names: metaformer, mlp, resnet" in issue.msg


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("data: blobs\nmodel: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and "line" in err.value.issues[0].loc


def test_component_spec_accepts_name_mapping_or_spec():
    a = TokenMixerSpec.parse("attention")
    b = TokenMixerSpec.parse({"name": "attention"})
    assert a == b and TokenMixerSpec.parse(a) is a
    assert a.to_dict()["head_dim"] == 32


def test_component_configs_forbid_unknown_fields_and_validate_assignment():
    class C(ComponentConfig):
        width: int = 3

    with pytest.raises(ValidationError, match="unknown field 'widht'"):
        C.model_validate({"widht": 4})
    c = C()
    with pytest.raises(ValidationError):
        c.width = "wide"


def test_experiment_defaults():
    exp = Experiment.model_validate({"data": "blobs", "model": "mlp"})
    assert exp.seed == 0 and exp.adapters == [] and exp.trainer.batch_size == 64


def test_an_unknown_field_does_not_hide_the_other_errors_of_the_same_spec():
    """All problems are reported at once: the typo and the bad value of the same data spec."""
    issues = _issues(lambda: validate_experiment({
        "data": {"name": "blobs", "num_clases": 3, "n_samples": -5},
        "model": {"name": "mlp", "hiden": [4], "dropout": 7},
        "trainer": {"epoch": 2, "batch_size": 0},
        "sed": 1,
    }))
    text = "\n".join(issues)
    assert "data: unknown field 'num_clases' (did you mean 'num_classes'?)" in text
    assert "data.n_samples: Input should be greater than or equal to" in text
    assert "model: unknown field 'hiden' (did you mean 'hidden'?)" in text and "model.dropout:" in text
    assert "trainer: unknown field 'epoch'" in text and "trainer.batch_size:" in text
    assert ": unknown field 'sed' (did you mean 'seed'?)" in text
    assert len(issues) == 7, issues
