"""A generated corpus of bad inputs: every one is refused with exit status 2 and a message, never a traceback,
and never accepted (the faults the reliability review found, and their neighbours)."""

from __future__ import annotations

import gzip
import json
import os

import pytest
import yaml
from click.testing import CliRunner

from forwardkit.cli.main import cli

GOOD = {"data": {"name": "blobs", "n_samples": 120, "image_size": 8},
        "model": {"name": "metaformer", "depths": [1, 1], "dims": [8, 16], "token_mixers": ["identity", "attention"]},
        "learning_rule": {"name": "backprop"}, "trainer": {"epochs": 1, "batch_size": 16}}


def deep_set(tree, path, value):
    out = json.loads(json.dumps(tree))
    node = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
    return out


#: (id, field path, bad value, words the message must hold)
BAD_VALUES = [
    ("seed-2**64", "seed", 2**64, "less than or equal"),
    ("seed-true", "seed", True, "got a boolean"),
    ("seed-string", "seed", "2", "got a string"),
    ("head-dim-1e30", "model.token_mixers.1", {"name": "attention", "head_dim": 1e30}, "got a float"),
    ("warmup-inf", "learning_rule", {"name": "backprop", "warmup_epochs": float("inf")}, "finite"),
    ("lr-inf", "learning_rule", {"name": "backprop", "lr": float("inf")}, "finite"),
    ("weight-decay-inf", "learning_rule", {"name": "backprop", "weight_decay": float("inf")}, "finite"),
    ("lr-nan", "learning_rule", {"name": "backprop", "lr": float("nan")}, "finite"),
    ("device-tpu", "trainer.device", "tpu", "pattern"),
    ("device-cyrillic", "trainer.device", "c\u0440u", "pattern"),
    ("epochs-string", "trainer.epochs", "3", "got a string"),
    ("shuffle-yes", "trainer.shuffle", "yes", "got a string"),
    ("batch-zero", "trainer.batch_size", 0, "greater than or equal"),
    ("unknown-mixer", "model.token_mixers.0", "identty", "Did you mean 'identity'"),
    ("case-typo", "model.token_mixers.0", "Identity", "Did you mean 'identity'"),
    ("unknown-field-case", "trainer.Epochs", 2, "did you mean 'epochs'"),
    ("early-stopping-monitor", "callbacks", [{"name": "early_stopping", "monitor": "val/acc"}], "val/acc"),
    ("wrong-rank", "model.rank", 1, "rank is 1"),
]


def run(*args, cwd=None):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=True)
    return result


def assert_refused(result, words=""):
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # a handled error, no traceback
    assert "Traceback" not in result.output
    assert words in result.output, result.output


@pytest.mark.parametrize(("path", "value", "words"), [b[1:] for b in BAD_VALUES], ids=[b[0] for b in BAD_VALUES])
def test_bad_values_are_refused_by_validate(tmp_path, path, value, words):
    exp = deep_set(GOOD, path, value)
    target = tmp_path / "exp.yaml"
    target.write_text(yaml.safe_dump(exp, allow_unicode=True))
    assert_refused(run("validate", str(target)), words)


def test_the_good_experiment_validates(tmp_path):
    target = tmp_path / "exp.yaml"
    target.write_text(yaml.safe_dump(GOOD))
    result = run("validate", str(target))
    assert result.exit_code == 0, result.output


RAW_FILES = {
    "random-bytes.yaml": bytes(range(256)) * 4,
    "utf16.yaml": "data: blobs\nmodel: mlp\n".encode("utf-16"),
    "image.yaml": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "archive.yaml": gzip.compress(b"data: blobs\n"),
    "empty.yaml": b"",
    "list.yaml": b"- data\n- model\n",
    "duplicate-key.yaml": b"data: blobs\nmodel: mlp\ntrainer: {epochs: 1}\ntrainer: {epochs: 2}\n",
    "duplicate-key.json": b'{"data": "blobs", "model": "mlp", "model": "resnet"}',
    "bad-json.json": b'{"data": "blobs",',
    "bad-yaml.yaml": b"data: [blobs\n",
    "alias-bomb.yaml": (b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode() for i in range(14))),
    "too-big.yaml": b"# " + b"x" * (3 * 1024 * 1024) + b"\n",
}
RAW_WORDS = {"random-bytes.yaml": "not UTF-8", "utf16.yaml": "UTF-16", "image.yaml": "not UTF-8",
             "archive.yaml": "not UTF-8", "empty.yaml": "empty", "list.yaml": "expected a mapping",
             "duplicate-key.yaml": "given twice", "duplicate-key.json": "given twice",
             "bad-json.json": "not valid JSON",
             "bad-yaml.yaml": "not valid YAML", "alias-bomb.yaml": "aliases", "too-big.yaml": "at most"}


@pytest.mark.parametrize("name", sorted(RAW_FILES))
def test_bad_files_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(RAW_FILES[name])
    assert_refused(run("validate", "--no-build", str(path)), RAW_WORDS[name])
    assert_refused(run("run", str(path)), RAW_WORDS[name])


def test_paths_that_are_not_files_are_named(tmp_path):
    assert_refused(run("validate", str(tmp_path)), "is a directory")
    if os.path.exists("/dev/null"):
        assert_refused(run("validate", "/dev/null"), "not a regular file")
    assert_refused(run("validate", str(tmp_path / "nope.yaml")), "file not found")


@pytest.mark.parametrize(("sets", "words"), [
    (["trainer.epochs=[1"], "not valid YAML"),
    (["trainer.epochs"], "expected KEY=VALUE"),
    (["model.token_mixers.7=identity"], "is a list of 2 entries"),
    (["trainer.epochs.x=1"], "not a mapping or a list"),
    (["trainer.epochs=.inf"], "got a float"),
    (["learning_rule.lr=.nan"], "finite"),
])
def test_bad_sets_are_refused(tmp_path, sets, words):
    target = tmp_path / "exp.yaml"
    target.write_text(yaml.safe_dump(GOOD))
    args = ["run", str(target)]
    for s in sets:
        args += ["--set", s]
    assert_refused(run(*args), words)


def test_an_out_dir_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    target = tmp_path / "exp.yaml"
    target.write_text(yaml.safe_dump({**GOOD, "trainer": {**GOOD["trainer"], "out_dir": str(blocker)}}))
    assert_refused(run("validate", str(target)), "is a file")


def test_many_problems_are_counted_not_flooded(tmp_path):
    target = tmp_path / "exp.yaml"
    target.write_text(yaml.safe_dump({**GOOD, **{f"field{i}": i for i in range(200)}}))
    result = run("validate", "--no-build", str(target))
    assert_refused(result, "unknown field")
    assert len(result.output.splitlines()) < 40


def test_the_generated_corpus_is_refused_field_by_field():
    """benchmarks/bad_inputs.py: every field of the resolved experiment given each value wrong for its type,
    every mapping an unknown key: all refused (exit 2, no traceback), each message naming the field."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bad_inputs.py"
    spec = importlib.util.spec_from_file_location("bad_inputs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--out", os.devnull])
    assert result["cases"] > 300
    assert result["not_refused"] == [] and result["not_named"] == []
