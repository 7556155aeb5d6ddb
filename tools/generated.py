"""Numbers in prose come from kept files: the generated blocks and quoted values of README and docs pages.

Two kinds of marker, both invisible when the Markdown is rendered:

* a block, rewritten whole::

      <!-- BEGIN generated: reproduction (make sync, from reports/results.json) -->
      ...
      <!-- END generated: reproduction -->

* a quoted value, a number taken from a kept JSON file by a JSON pointer (RFC 6901: ``/`` separates
  keys, ``~1`` stands for a ``/`` inside a key) and a Python format spec::

      a speed-up of <!-- value: reports/speed.json#/speedup/batch64 .2f -->2.61<!-- /value -->x

  The path is relative to the file holding the marker. Markers inside fenced code blocks are examples
  and are left alone.

``tools/sync_plugins.py`` (``make sync``) rewrites both; with ``--check`` it reports every file whose
text differs from what the kept files say, and the test suite runs that check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

VALUE = re.compile(r"<!-- value: (?P<path>[^#\s]+)#(?P<pointer>\S*)(?: (?P<fmt>\S+))? -->(?P<old>.*?)<!-- /value -->",
                   re.S)


FENCE = re.compile(r"(^```.*?^```[^\n]*$)", re.S | re.M)


def block_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"(<!-- BEGIN generated: " + re.escape(name) + r"\b[^>]*-->\n)(.*?)(<!-- END generated: "
                      + re.escape(name) + r" -->)", re.S)


def has_block(text: str, name: str) -> bool:
    return block_pattern(name).search(text) is not None


def fill_block(text: str, name: str, content: str) -> str:
    """``text`` with the body of block ``name`` replaced by ``content``."""
    pattern = block_pattern(name)
    if not pattern.search(text):
        raise KeyError(name)
    return pattern.sub(lambda m: m.group(1) + content.rstrip("\n") + "\n" + m.group(3), text, count=1)


def resolve_pointer(data: Any, pointer: str) -> Any:
    """The value at a JSON pointer (``""`` is the whole document)."""
    if pointer in ("", "/"):
        return data
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/', got {pointer!r}")
    for raw in pointer[1:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def fill_values(text: str, base: Path, problems: list[str], where: str) -> str:
    """Every quoted value of ``text`` re-read from its JSON file (missing files or keys go to ``problems``)."""
    cache: dict[Path, Any] = {}

    def one(m: re.Match[str]) -> str:
        path = (base / m.group("path")).resolve()
        try:
            if path not in cache:
                cache[path] = json.loads(path.read_text(encoding="utf-8"))
            value = resolve_pointer(cache[path], m.group("pointer"))
            shown = format(value, m.group("fmt") or "")
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            problems.append(f"{where}: cannot quote {m.group('path')}#{m.group('pointer')}: "
                            f"{type(exc).__name__}: {exc}")
            return m.group(0)
        return m.group(0).replace(f"-->{m.group('old')}<!--", f"-->{shown}<!--", 1)

    parts = FENCE.split(text)  # odd parts are fenced code: examples of markers, left alone
    return "".join(part if i % 2 else VALUE.sub(one, part) for i, part in enumerate(parts))


def sync_file(path: Path, transform: Callable[[str], str], *, check: bool, stale: list[Path]) -> None:
    """Apply ``transform`` to a file; write it (or, with ``check``, note it as stale) when it changes."""
    old = path.read_text(encoding="utf-8")
    new = transform(old)
    if new != old:
        stale.append(path)
        if not check:
            path.write_text(new, encoding="utf-8")
