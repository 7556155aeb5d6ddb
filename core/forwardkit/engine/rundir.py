"""Run directories: a new run never writes over an earlier one unless asked to.

A run directory that already holds a run (its ``experiment.json``, ``stages.json``, metrics, summary or
checkpoints) is refused for a new run: continue it with ``--resume``, or start clean with
``--overwrite``, which deletes the outputs forwardkit wrote there (and nothing else).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from forwardkit.errors import ForwardkitError

#: what a run writes into its directory (files and folders)
OUTPUT_FILES = ("experiment.json", "stages.json", "metrics.jsonl", "metrics.csv", "summary.json", "curves.png")
OUTPUT_DIRS = ("checkpoints", "analysis", "tensorboard", "final")
STAGE_DIR = re.compile(r"^\d{2}-[a-z0-9][a-z0-9_-]*$")


def run_outputs(run_dir: Path) -> list[Path]:
    """The outputs of an earlier run found in ``run_dir`` (stage folders of a multi-stage run included)."""
    found = [run_dir / n for n in OUTPUT_FILES if (run_dir / n).is_file()]
    found += [run_dir / n for n in OUTPUT_DIRS if (run_dir / n).is_dir()]
    found += [p for p in run_dir.iterdir() if p.is_dir() and STAGE_DIR.match(p.name)
              and (p / "experiment.json").is_file()] if run_dir.is_dir() else []
    return sorted(found)


def prepare_run_dir(run_dir: Path, *, overwrite: bool = False) -> None:
    """Make ``run_dir`` ready for a new run: refuse one that holds a run, unless ``overwrite`` (then its
    outputs are deleted); refuse a path that is a file."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ForwardkitError(f"the run directory {run_dir} is a file, not a directory")
    for parent in run_dir.parents:
        if parent.exists() and not parent.is_dir():
            raise ForwardkitError(f"cannot create the run directory {run_dir}: {parent} is a file")
    if not run_dir.exists():
        return
    outputs = run_outputs(run_dir)
    if not outputs:
        return
    if not overwrite:
        shown = ", ".join(p.name for p in outputs[:4]) + (" ..." if len(outputs) > 4 else "")
        raise ForwardkitError(f"{run_dir} already holds a run ({shown}): continue it with --resume {run_dir}, or "
                              "start clean with --overwrite (deletes that run's outputs)")
    for path in outputs:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
