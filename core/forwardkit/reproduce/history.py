"""Preregistration that shows: earlier full runs of a reproduction, kept in every new results.json.

A full run that writes into a folder holding an earlier full run's ``results.json`` carries that run
(date, spec hash, verdict, each condition's outcome) and everything it carried into ``history``, so a
pass bar changed after seeing the data stays visible in report.md. Torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forwardkit.reproduce.spec import canonical_hash


def run_entry(results: dict[str, Any], *, source: str = "results.json") -> dict[str, Any]:
    """The history entry of one run's results (old single-comparison results too)."""
    verdict = results.get("verdict", {})
    digest = canonical_hash(results.get("spec"), results.get("spec_hash"))
    conditions = [{"index": c.get("index"), "text": c.get("text"), "outcome": c.get("outcome")}
                  for c in verdict.get("conditions", [])]
    if not conditions and "baseline_arm" in results:  # a spec from before conditions: one comparison
        conditions = [{"index": 0, "text": f"{results.get('claim_type', 'superiority')}: `{results['method_arm']}` vs "
                       f"`{results['baseline_arm']}` on {results.get('metric')}", "outcome": verdict.get("outcome")}]
    return {"date": results.get("date"), "spec_hash": digest, "outcome": verdict.get("label", verdict.get("outcome")),
            "reason": verdict.get("reason"), "seeds": results.get("seeds"), "conditions": conditions,
            "pass_bar": results.get("pass_bar"), "spec": results.get("spec"), "source": source}


def earlier_runs(out_dir: Path) -> list[dict[str, Any]]:
    """The history to carry into a new full run written to ``out_dir`` (oldest first)."""
    path = Path(out_dir) / "results.json"
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(previous, dict) or previous.get("smoke") or "verdict" not in previous:
        return []
    return [*previous.get("history", []), run_entry(previous)]


def history_markdown(history: list[dict[str, Any]], current: str) -> str:
    """The report's history section: one row per earlier run, marking where the spec differed."""
    if not history:
        return "No earlier full run of this reproduction was kept."
    lines = ["| date | spec hash | verdict | conditions | source |", "|---|---|---|---|---|"]
    for h in history:
        same = "" if h.get("spec_hash") == current else " (**different spec**)"
        conds = "; ".join(f"{(c.get('index') or 0) + 1}: {c.get('outcome')}" for c in h.get("conditions", []))
        lines.append(f"| {h.get('date')} | `{h.get('spec_hash')}`{same} | {h.get('outcome')} | {conds} | "
                     f"{h.get('source')} |")
    changed = sum(h.get("spec_hash") != current for h in history)
    note = (f"{changed} of {len(history)} earlier runs used a different spec: compare their pass bar with "
            "this one before reading the verdict." if changed else "Every earlier run used this same spec.")
    return "\n".join([*lines, "", note])
