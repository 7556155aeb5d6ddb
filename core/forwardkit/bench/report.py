"""Benchmark reports: the scaling-exponent fit, rich tables, the results JSON and the log-log plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TIME_KEYS = {"fwdbwd": "fwdbwd_ms", "fwd": "fwd_ms"}


def fit_exponent(tokens: Sequence[float], times: Sequence[float]) -> float | None:
    """Least-squares slope of ``log(time)`` against ``log(tokens)``; None with fewer than two sizes."""
    pairs = [(math.log(n), math.log(t)) for n, t in zip(tokens, times, strict=True) if n > 0 and t > 0]
    if len({x for x, _ in pairs}) < 2:
        return None
    mx = sum(x for x, _ in pairs) / len(pairs)
    my = sum(y for _, y in pairs) / len(pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    return sxy / sxx


def _groups(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("status") == "ok":
            groups.setdefault((row["name"], int(row["rank"])), []).append(row)
    return groups


def exponents(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (component, rank): the fitted exponents of fwd+bwd and fwd time vs tokens."""
    out = []
    for (name, rank), group in sorted(_groups(rows).items()):
        group = sorted(group, key=lambda r: r["tokens"])
        tokens = [r["tokens"] for r in group]
        entry: dict[str, Any] = {"name": name, "rank": rank, "sizes": tokens}
        for label, key in TIME_KEYS.items():
            entry[f"{label}_exponent"] = fit_exponent(tokens, [r[key] for r in group])
        entry["macs_exponent"] = fit_exponent(tokens, [r["macs"] for r in group])
        out.append(entry)
    return out


def payload(kind: str, rows: list[dict[str, Any]], settings: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The results JSON document."""
    data: dict[str, Any] = {
        "kind": kind,
        "settings": settings,
        "notes": notes,
        "results": [r for r in rows if r.get("status") == "ok"],
        "skipped": [r for r in rows if r.get("status") != "ok"],
    }
    if kind != "model":
        data["exponents"] = exponents(rows)
    return data


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}"


def print_report(data: dict[str, Any], console: Any = None) -> None:
    """Rich tables: measurements, skipped sizes with reasons, exponents and notes."""
    from rich.console import Console
    from rich.table import Table

    out = console or Console(soft_wrap=False)
    out.width = max(out.width, 112)
    settings = data["settings"]
    if data["kind"] == "model":
        table = Table(title=f"models, batch {settings['batch']}", title_justify="left")
        for col in ("model", "params", "MACs/sample", "fwd ms", "fwd+bwd ms", "samples/s", "peak MB"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for r in data["results"]:
            table.add_row(r["name"], _si(r["params"]), _si(r["macs_per_sample"]), _fmt(r["fwd_ms"]),
                          _fmt(r["fwdbwd_ms"]), _si(r["samples_per_s"]), _fmt(r["peak_mb"], 1))
    else:
        title = f"{data['kind']}s: batch {settings['batch']}, dim {settings['dim']}"
        table = Table(title=title, title_justify="left")
        for col in ("mixer", "rank", "N", "params", "MACs", "fwd ms", "fwd+bwd ms", "tokens/s", "peak MB"):
            table.add_column(col, justify="left" if col == "mixer" else "right")
        for r in data["results"]:
            table.add_row(r["name"], str(r["rank"]), str(r["tokens"]), _si(r["params"]), _si(r["macs"]),
                          _fmt(r["fwd_ms"]), _fmt(r["fwdbwd_ms"]), _si(r["tokens_per_s"]), _fmt(r["peak_mb"], 1))
    out.print(table)
    if data["skipped"]:
        skipped = Table(title="skipped", title_justify="left")
        for col in ("component", "rank", "N", "reason"):
            skipped.add_column(col, overflow="fold")
        for r in data["skipped"]:
            skipped.add_row(r["name"], str(r.get("rank", "")), str(r.get("tokens", "")), r["reason"])
        out.print(skipped)
    if data.get("exponents"):
        fit = Table(title="scaling exponent: least-squares slope of log(time) vs log(tokens)", title_justify="left")
        for col in ("mixer", "rank", "sizes", "fwd+bwd", "fwd", "MACs"):
            fit.add_column(col, justify="left" if col in ("mixer", "sizes") else "right")
        for e in data["exponents"]:
            fit.add_row(e["name"], str(e["rank"]), ",".join(map(str, e["sizes"])), _fmt(e["fwdbwd_exponent"]),
                        _fmt(e["fwd_exponent"]), _fmt(e["macs_exponent"]))
        out.print(fit)
    configs = settings.get("configs") or {}
    if configs:
        out.print("configs: " + "; ".join(f"{name} " + ", ".join(f"{k}={v!r}" for k, v in fields.items())
                                          for name, fields in configs.items()))
    threads = settings["threads_per_worker"]
    out.print(f"device {settings['device']}, {settings['workers']} worker(s) x {threads} thread(s); "
              f"peak MB: {settings['memory_method']}")
    for note in data["notes"]:
        out.print(f"[yellow]note:[/] {note}")


def plot(data: dict[str, Any], path: Path) -> Path | None:
    """Log-log plot of fwd+bwd time against tokens, one line per (component, rank)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(data["results"])
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    slopes = {(e["name"], e["rank"]): e["fwdbwd_exponent"] for e in data.get("exponents", [])}
    for (name, rank), group in sorted(groups.items()):
        group = sorted(group, key=lambda r: r["tokens"])
        slope = slopes.get((name, rank))
        label = f"{name} rank {rank}" + (f" (slope {slope:.2f})" if slope is not None else "")
        ax.plot([r["tokens"] for r in group], [r["fwdbwd_ms"] for r in group], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tokens N")
    ax.set_ylabel("forward+backward ms (median)")
    s = data["settings"]
    ax.set_title(f"{data['kind']}: batch {s['batch']}, dim {s['dim']}, {s['threads_per_worker']} thread(s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write(data: dict[str, Any], out_dir: Path) -> list[Path]:
    """``results.json`` (and ``scaling.png`` for mixers) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.json"]
    written[0].write_text(json.dumps(data, indent=2, default=str) + "\n")
    if data["kind"] != "model":
        png = plot(data, out_dir / "scaling.png")
        if png is not None:
            written.append(png)
    return written
