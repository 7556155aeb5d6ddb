"""What every benchmark script here records about the machine, and how it keeps its JSON.

The scripts put this folder on ``sys.path`` themselves (they also run through ``importlib`` in the tests);
this module depends on torch only, so a script can measure an earlier checkout of forwardkit (put first on
``PYTHONPATH``) with the same bookkeeping.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch


def cpu_name() -> str:
    """The CPU model (lscpu's "Model name"), else what ``platform`` knows."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, str]:
    """torch and Python versions, CPU, architecture and today's date, for a results document."""
    return {"torch": torch.__version__, "cpu": cpu_name(), "processor": platform.processor(),
            "machine": platform.machine(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}


def write_result(out: Path | None, result: dict[str, Any]) -> None:
    """Write ``result`` as indented JSON to ``out`` (folders made as needed); nothing when ``out`` is None."""
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
