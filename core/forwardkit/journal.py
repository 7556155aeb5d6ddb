"""The finished runs of a job that has not finished yet, so that the job started again skips them.

A many-run job (a bake-off, a reproduction, ``reproduce --all``) writes the result of each run to its
journal as the run finishes: one small JSON file per run, named by the hash of what the run computes
(its experiment, seed, program and config: never where or how it ran, so a job started on local processes
can go on on Ray). When the job is started again, every run whose record is there is taken from it
instead of run again; a run whose inputs changed has another hash and runs. The job deletes its journal
once its outputs are written, so a later start of the same command computes everything afresh. Torch-free.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def run_key(payload: Any) -> str:
    """A 16-hex-digit hash of ``payload`` (JSON-like data; other objects by their ``str``)."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class RunJournal:
    """Run records in ``folder`` (created on the first record): ``get(key)``, ``put(key, result)``."""

    def __init__(self, *, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> Any | None:
        """The recorded result of the run ``key``, or None (none recorded, or an unreadable record)."""
        try:
            record = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record.get("result") if isinstance(record, dict) and record.get("key") == key else None

    def put(self, key: str, result: Any, *, label: str = "") -> None:
        """Record ``result`` (JSON data) of the run ``key``, atomically (an interrupted write leaves none)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"key": key, "label": label, "result": result}, indent=1)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self._path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0

    def clear(self) -> None:
        """Delete the journal (the job is done, or is to start afresh), and the ``.journal`` folder that
        held it when nothing else is left there."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.folder.parent.name == ".journal":
            try:
                self.folder.parent.rmdir()
            except OSError:  # another job's journal is there too
                pass

    def __repr__(self) -> str:
        return f"RunJournal(folder={str(self.folder)!r})"
