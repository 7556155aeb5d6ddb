"""Run outputs: metrics as JSONL and CSV, progress (rich bar or plain lines), summary table, curves PNG."""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class MetricsLog:
    """Appends one JSON line per record to ``metrics.jsonl``; ``write_csv`` turns it into ``metrics.csv``."""

    def __init__(self, run_dir: Path | None, *, tensorboard: bool = False) -> None:
        self.run_dir = run_dir
        self.records: list[dict[str, Any]] = []
        self.path = run_dir / "metrics.jsonl" if run_dir else None
        self.tb = None
        if tensorboard and run_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                from forwardkit.errors import ForwardkitError

                raise ForwardkitError(
                    "trainer.tensorboard is on but TensorBoard is not installed: pip install tensorboard"
                ) from exc
            self.tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def load_existing(self, upto_step: int, *, records: int | None = None) -> None:
        """On resume: keep the records written before the checkpoint and drop the rest (they will be redone).

        ``records`` (saved in the checkpoint) is how many there were; older checkpoints fall back to the
        records up to the checkpoint's step. Lines that are not JSON records (cut by a kill, damaged) are
        dropped."""
        if self.path is None or not self.path.exists():
            return
        kept = []
        for line in self.path.read_bytes().decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if isinstance(record, dict) and (records is not None or record.get("step", 0) <= upto_step):
                kept.append(record)
        self.records = kept[:records] if records is not None else kept
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.records))

    def log(self, record: Mapping[str, Any]) -> None:
        rec = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in record.items()}
        self.records.append(rec)
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            step = int(record.get("step", 0))
            for key, value in record.items():
                if key not in ("step", "epoch") and isinstance(value, int | float):
                    self.tb.add_scalar(key, value, step)

    def write_csv(self) -> Path | None:
        if self.run_dir is None:
            return None
        path = self.run_dir / "metrics.csv"
        columns = list(dict.fromkeys(k for r in self.records for k in r))
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.records)
        return path

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def plot_curves(records: list[dict[str, Any]], path: Path) -> Path | None:
    """PNG of the training loss and of every evaluation metric against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if "train/loss" in r]
    evals = [r for r in records if any(k.startswith("val/") for k in r)]
    eval_keys = sorted({k for r in evals for k in r if k.startswith("val/") and isinstance(r[k], int | float)})
    if not train and not evals:
        return None
    fig, axes = plt.subplots(1, 1 + bool(eval_keys), figsize=(5 + 5 * bool(eval_keys), 3.5), squeeze=False)
    ax = axes[0][0]
    ax.plot([r["step"] for r in train], [r["train/loss"] for r in train], label="train/loss")
    for key in ("val/loss",):
        pts = [(r["step"], r[key]) for r in evals if key in r]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    if eval_keys:
        ax2 = axes[0][1]
        for key in eval_keys:
            if key == "val/loss":
                continue
            pts = [(r["step"], r[key]) for r in evals if key in r]
            ax2.plot(*zip(*pts, strict=True), marker="o", label=key)
        ax2.set_xlabel("step")
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class Progress:
    """A rich progress bar on a terminal; plain log lines otherwise (``mode``: auto, bar, log, none)."""

    def __init__(
        self, *, total: int, start_step: int = 0, mode: str = "auto", every: int = 10, enabled: bool = True
    ) -> None:
        self.total = total
        self.start_step = start_step
        self.every = every
        self.start = time.perf_counter()
        self.samples = 0
        if not enabled or mode == "none":
            self.mode = "none"
        elif mode == "auto":
            self.mode = "bar" if sys.stdout.isatty() else "log"
        else:
            self.mode = mode
        self._bar = None
        if self.mode == "bar":
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} samples/s"),
                TimeRemainingColumn(), transient=False,
            )
            self._task = self._bar.add_task("train", total=total, epoch="1", loss="-", rate="-")
            self._bar.start()

    def update(self, *, step: int, epoch: int, epochs: int, loss: float, samples: int) -> None:
        self.samples += samples
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = self.samples / elapsed
        if self._bar is not None:
            self._bar.update(self._task, completed=step, epoch=f"{epoch + 1}/{epochs}", loss=f"{loss:.4f}",
                             rate=f"{rate:,.0f}")
        elif self.mode == "log" and (step % self.every == 0 or step == self.total):
            eta = (self.total - step) * elapsed / max(step - self.start_step, 1)
            print(f"epoch {epoch + 1}/{epochs}  step {step}/{self.total}  loss {loss:.4f}  "
                  f"{rate:,.0f} samples/s  eta {eta:,.0f}s", flush=True)

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text)
        elif self.mode != "none":
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def summary_table(title: str, rows: Mapping[str, Any]) -> str:
    """A small two-column text table (rich when available)."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    buf = StringIO()
    Console(file=buf, width=100).print(table)
    return buf.getvalue()
