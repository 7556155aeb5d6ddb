"""A generated corpus of bad experiment files, each run through ``forwardkit validate``: refused, or not.

The corpus starts from one small valid experiment and walks every field of its fully resolved form (every
component's config at its defaults included): each field gets the values that are wrong for its type (a
number field a string, a boolean, a list, infinity and NaN; an integer field a fraction; a boolean field
``"yes"`` and ``1``; a text field a number and a list; a field that names a choice an unknown name and a
Cyrillic look-alike), and every mapping an unknown key one letter off a real one. Each case is written as
YAML and validated in process (``validate`` builds the experiment and runs one forward pass).

Outcomes: ``refused`` (exit status 2, a handled error, no traceback; ``named`` when the message names the
field, or for a component's name the component's path), ``traceback`` (any other failure), ``accepted``
(exit 0: a bad value let through). Bar (issue 11): every case refused, with the field named.

    python benchmarks/bad_inputs.py                   # writes benchmarks/results/bad_inputs.json
    python benchmarks/bad_inputs.py --smoke           # every 10th case
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result

from forwardkit.cli.main import cli
from forwardkit.config import validate_experiment

RESULTS = Path(__file__).resolve().parent / "results" / "bad_inputs.json"
GOOD: dict[str, Any] = {
    "data": {"name": "blobs", "n_samples": 120, "image_size": 8},
    "model": {"name": "metaformer", "depths": [1, 1], "dims": [8, 16], "token_mixers": ["identity", "attention"]},
    "learning_rule": {"name": "backprop"}, "trainer": {"epochs": 1, "batch_size": 16}}
#: fields whose text is one of a fixed set of choices (component names, optimizers, schedules, devices, ...)
CHOICES = {"name", "optimizer", "schedule", "device", "act", "head", "pool", "progress", "autocast", "norm"}
#: Latin letters and their Cyrillic look-alikes
LOOK_ALIKE = str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441", "p": "\u0440"})
#: free text: any string is valid
FREE_TEXT = {"name", "trainer.out_dir"}


def leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every scalar of a nested mapping/list with its path (list indices as strings)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, (*path, str(i)))
    else:
        yield path, node


def mappings(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every mapping of a nested structure with its path."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from mappings(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from mappings(value, (*path, str(i)))


def bad_values(path: tuple[str, ...], value: Any) -> list[tuple[str, Any]]:
    """The values that are wrong for the type of ``value`` (labelled)."""
    if isinstance(value, bool):
        return [("string-yes", "yes"), ("int-1", 1), ("float", 0.5), ("list", [value])]
    if isinstance(value, int):
        return [("fraction", value + 0.5), ("string", str(value)), ("bool", True), ("list", [value]),
                ("inf", float("inf"))]
    if isinstance(value, float):
        return [("inf", float("inf")), ("-inf", float("-inf")), ("nan", float("nan")), ("string", str(value)),
                ("bool", True), ("list", [value])]
    if isinstance(value, str):
        out: list[tuple[str, Any]] = [("int", 7), ("bool", True), ("list", [value]), ("mapping", {"x": 1})]
        dotted = ".".join(path)
        if dotted not in FREE_TEXT and (path[-1] in CHOICES or path[-2:-1] == ("norm",)):
            out.append(("unknown-choice", value + "zz"))
            alike = value.translate(LOOK_ALIKE)
            if alike != value:
                out.append(("look-alike", alike))
        return out
    return []  # None: an optional field whose type the value does not show


def skeleton(node: Any) -> Any:
    """What to write for a part the valid experiment leaves at its default: a component by its name only,
    a list of them likewise, any other value as it is."""
    if isinstance(node, dict):
        return {"name": node["name"]} if "name" in node else {}
    if isinstance(node, list):
        return [skeleton(item) for item in node]
    return node


def set_in(tree: dict[str, Any], full: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of ``tree`` with ``value`` at ``path``. A component given by name becomes ``{name: ...}``; a part
    ``tree`` leaves at its default is filled from the resolved ``full`` (see :func:`skeleton`)."""
    out = copy.deepcopy(tree)
    node: Any = out
    resolved: Any = full
    for key in path[:-1]:
        index: Any = int(key) if isinstance(node, list) else key
        resolved = resolved[index] if resolved is not None else None
        child = node[index] if (isinstance(node, list) and index < len(node)) or (
            isinstance(node, dict) and index in node) else skeleton(resolved)
        if isinstance(child, str):
            child = {"name": child}
        node[index] = child
        node = child
    node[int(path[-1]) if isinstance(node, list) else path[-1]] = value
    return out


def typo(key: str) -> str:
    """``key`` one letter off (its first letter doubled), never a real key."""
    return key[0] + key


def corpus() -> list[dict[str, Any]]:
    """Every case: id, the field path, the experiment."""
    full = validate_experiment(GOOD).to_dict(full=True)
    cases = []
    for path, value in leaves(full):
        for label, bad in bad_values(path, value):
            cases.append({"id": f"{'.'.join(path)}={label}", "field": ".".join(path), "experiment":
                          set_in(GOOD, full, path, bad)})
    for path, node in mappings(full):
        if node:
            key = typo(sorted(node)[0])
            cases.append({"id": f"{'.'.join((*path, key))}=unknown-key", "field": ".".join((*path, key)),
                          "experiment": set_in(GOOD, full, (*path, key), 1)})
    return cases


def judge(case: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Validate one case in process; its outcome."""
    target = folder / "experiment.yaml"
    target.write_text(yaml.safe_dump(case["experiment"], allow_unicode=True))
    result = CliRunner().invoke(cli, ["validate", str(target)], catch_exceptions=True)
    handled = isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    if result.exit_code == 0:
        outcome = "accepted"
    elif result.exit_code == 2 and handled:
        outcome = "refused"
    else:
        outcome = "traceback"
    owner, _, leaf = case["field"].rpartition(".")
    named = leaf in result.output or (bool(owner) and f"{owner}:" in result.output)  # the field, or its component
    return {"id": case["id"], "outcome": outcome, "named": outcome == "refused" and named,
            "exit": result.exit_code, "message": result.output.strip().splitlines()[-3:] if outcome != "refused"
            else None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="every 10th case")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {RESULTS}; none with --smoke)")
    args = parser.parse_args(argv)
    cases = corpus()
    chosen = cases[::10] if args.smoke else cases
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [judge(case, Path(tmp)) for case in chosen]
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("refused", "traceback", "accepted")}
    result = {"what": "generated bad experiment files through `forwardkit validate` (build and one forward pass)",
              "bar": "every case refused (exit 2, no traceback), the field named", "cases": len(rows),
              **counts, "named": sum(r["named"] for r in rows), "seconds": round(time.perf_counter() - start, 1),
              "not_refused": [r for r in rows if r["outcome"] != "refused"],
              "not_named": [r["id"] for r in rows if r["outcome"] == "refused" and not r["named"]],
              **machine_info()}
    print(f"{len(rows)} cases: {counts['refused']} refused ({result['named']} naming the field), "
          f"{counts['traceback']} traceback, {counts['accepted']} accepted")
    for row in result["not_refused"]:
        print(f"  {row['outcome']:9s} {row['id']}: {' | '.join(row['message'] or [])[:160]}")
    write_result(args.out if args.out is not None else (None if args.smoke else RESULTS), result)
    return result


if __name__ == "__main__":
    main()
