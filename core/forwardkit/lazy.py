"""Packages whose names load on first use: how ``import forwardkit`` stays free of torch.

A package lists ``{name: module}`` and gets a module-level ``__getattr__`` and ``__dir__`` from
:func:`lazy_names`; a name is imported from its module the first time it is asked for, then kept in the
package's namespace.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_names(package: str, table: Mapping[str, str], names: Sequence[str],
               submodules: Sequence[str] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``table`` maps each name to the module that defines it;
    ``submodules`` may be imported as attributes (``forwardkit.testing.checks``)."""

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__
