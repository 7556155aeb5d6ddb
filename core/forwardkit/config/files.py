"""Reading experiment files (YAML or JSON) so that no input crashes the reader or the machine.

:func:`read_mapping` refuses, each with a message that names the file (and the line where it can):
a path that is missing, a directory or not a regular file; a file over :data:`MAX_BYTES`; bytes that are
not UTF-8 text; YAML or JSON that does not parse; a mapping with a key given twice (``trainer:`` twice:
neither silently wins); YAML that expands more than :data:`MAX_ALIASES` aliases (a few hundred bytes of
nested aliases can otherwise take gigabytes); and a top level that is not a mapping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from forwardkit.errors import ConfigError, ConfigIssue

#: the largest experiment file read (experiments are a few kilobytes)
MAX_BYTES = 2 * 1024 * 1024
#: the most YAML aliases one document may use
MAX_ALIASES = 100


class _AliasBudget(Exception):
    pass


class SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses duplicate keys and bounds how many aliases a document uses."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _AliasBudget
        return Composer.compose_node(self, parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise ConstructorError(None, None, f"the key {key!r} is given twice (first on line "
                                           f"{seen[key].start_mark.line + 1})", key_node.start_mark)
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with duplicate keys and alias bombs refused (see :class:`SafeLoader`)."""
    loader = SafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _duplicate_free_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is given twice")
        out[key] = value
    return out


def _read_text(path: Path) -> str:
    def fail(msg: str, where: str = "") -> ConfigError:
        return ConfigError([ConfigIssue(where, msg)], source=str(path))

    if not path.exists():
        raise fail(f"file not found: {path}")
    if path.is_dir():
        raise fail(f"{path} is a directory, not an experiment file")
    if not path.is_file():
        raise fail(f"{path} is not a regular file (a device, a pipe or a socket)")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise fail(f"{path} is {size / 1e6:.1f} MB: an experiment file is at most {MAX_BYTES // (1024 * 1024)} MB")
    raw = path.read_bytes()
    if not raw.strip():
        raise fail(f"{path} is empty")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        kind = "UTF-16 text" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "binary data"
        raise fail(f"{path} is not UTF-8 text (it looks like {kind}; byte {exc.start} is {raw[exc.start]:#04x}); "
                   "save the experiment as UTF-8 YAML or JSON") from None


def read_mapping(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON file into a mapping, with errors that name the file and line."""
    path = Path(path)
    text = _read_text(path)
    try:
        if path.suffix == ".json":
            data = json.loads(text, object_pairs_hook=_duplicate_free_pairs)
        else:
            data = load_yaml(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([ConfigIssue(f"line {exc.lineno}", f"not valid JSON: {exc.msg}")], source=str(path)) from None
    except _AliasBudget:
        raise ConfigError([ConfigIssue("", f"the YAML uses more than {MAX_ALIASES} aliases; write the values out")],
                          source=str(path)) from None
    except ValueError as exc:  # a duplicate key in JSON
        raise ConfigError([ConfigIssue("", f"not valid JSON: {exc}")], source=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(where, f"not valid YAML: {problem}")], source=str(path)) from None
    except RecursionError:
        raise ConfigError([ConfigIssue("", "the file nests too deeply")], source=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("", f"expected a mapping at the top, got {type(data).__name__}")],
                          source=str(path))
    return data
