"""Load a plugin's benchmark or report script (``plugins/<slug>/benchmarks/*.py``) in a test.

Scripts are not part of the installed package, so a test cannot import them by name; ``load_script``
imports one from its path, under a module name derived from the path (so two plugins' ``cost.py`` do not
collide), and returns the module so that the test can call its ``main([...,"--smoke"])``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_script(path: str | Path) -> ModuleType:
    """Import the Python file at ``path`` as a fresh module and return it."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no script at {path}")
    name = "forwardkit_script_" + "_".join(part.replace("-", "_").replace(".", "_") for part in path.parts[-3:])
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module
