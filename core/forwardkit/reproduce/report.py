"""The outputs of a reproduction (report.md, results.json, figure.png) and the docs' "Reproductions" page.

Torch-free; matplotlib is imported only to draw the figure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def report_markdown(results: dict[str, Any]) -> str:
    r, v = results, results["verdict"]
    arxiv = f" ([arXiv:{r['arxiv']}](https://arxiv.org/abs/{r['arxiv']}))" if r.get("arxiv") else ""
    spec = r["spec"]
    lines = [f"# Reproduction: {r['slug']}", ""]
    if r.get("smoke"):
        lines += ["> **Smoke run**: a tiny budget that checks the harness runs; the verdict below means nothing "
                  "about the paper.", ""]
    lines += [
        f"**Paper** {r['paper']}{arxiv}", "",
        f"**Claim** {r['claim']}", "",
        f"**Paper's result** {r['paper_result']}", "",
        f"## Verdict: {v['outcome']}", "",
        v["reason"], "",
        pass_bar(r), "",
        "## Results", "",
        f"| arm | {r['metric']} mean ± std | n | per seed ({', '.join(map(str, r['seeds']))}) | seconds |",
        "|---|---|---|---|---|",
    ]
    for name, arm in r["arms"].items():
        role = {r["baseline_arm"]: "baseline", r["method_arm"]: "method"}.get(name, name)
        role = "" if role == name else f" ({role})"
        per = ", ".join(f"{x:.4f}" for x in arm["values"])
        lines.append(f"| `{name}`{role} | {arm['mean']:.4f} ± {arm['std']:.4f} | {arm['n']} | {per} | "
                     f"{arm['seconds']:.1f} |")
    lines += ["", "![per-arm results](figure.png)", "", "## Setup", "",
              "Every arm is `base` deep-merged with the arm's overrides"
              + (", then the smoke overrides" if r.get("smoke") else "") + "; the seed is set per run.", "",
              "```yaml",
              yaml.safe_dump({"base": spec["base"], "arms": spec["arms"],
                              **({"smoke": spec["smoke"]} if r.get("smoke") else {})}, sort_keys=False).rstrip(),
              "```", "",
              f"Date {r['date']} · torch {r['torch']} · Python {r['python']} · {r['workers']} worker(s) · "
              f"{r['minutes']:.1f} min (expected {r['expected_minutes']:g} min for a full run)", "",
              "Rerun:", "", "```bash", r["command"], "```", ""]
    return "\n".join(lines)


def pass_bar(r: dict[str, Any]) -> str:
    """The pass bar of a reproduction, in words."""
    spread = ("the spread of the per-seed differences (std of method_i - baseline_i)" if r.get("paired")
              else "the pooled spread sqrt(std_method² + std_baseline²)")
    if r.get("claim_type") == "non_inferiority":
        return (f"Pass bar (non-inferiority): the `{r['method_arm']}` arm may be at most {r['margin']:g} worse than "
                f"`{r['baseline_arm']}` on `{r['metric']}` ({r['direction']} is better), even after subtracting "
                f"{spread} from the measured difference.")
    return (f"Pass bar: the `{r['method_arm']}` arm must beat `{r['baseline_arm']}` on `{r['metric']}` "
            f"({r['direction']} is better) by at least {r['min_effect']:g}, by more than {spread}.")


def plot(results: dict[str, Any], path: Path) -> None:
    """One bar per arm (mean, with ±std error bar) and a point per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["arms"])
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2.5, 3.5))
    colors = ["#dd8452" if n == results["method_arm"] else "#4c72b0" for n in names]
    arms = [results["arms"][n] for n in names]
    ax.bar(names, [a["mean"] for a in arms], yerr=[a["std"] for a in arms], color=colors, alpha=0.7, capsize=4)
    for i, a in enumerate(arms):
        n = len(a["values"])
        xs = [i + (j - (n - 1) / 2) * 0.08 for j in range(n)]
        ax.scatter(xs, a["values"], color="black", s=14, zorder=3)
    lo = min(min(a["values"]) for a in arms)
    hi = max(max(a["values"]) for a in arms)
    pad = (hi - lo) * 0.5 or abs(hi) * 0.05 or 0.05
    ax.set_ylim(lo - pad if lo - pad > 0 or lo < 0 else 0, hi + pad)
    ax.set_ylabel(f"{results['metric']} ({results['direction']} is better)")
    ax.set_title(f"{results['slug']}: {results['verdict']['outcome']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    plot(results, out / "figure.png")
    (out / "report.md").write_text(report_markdown(results), encoding="utf-8")


def index_markdown(rows: list[dict[str, Any]], *, title: str = "Reproductions") -> str:
    """A table of verdict rows (one per plugin), as written by ``forwardkit reproduce --all``."""
    lines = [f"# {title}", "", "| plugin | verdict | measured | report |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['slug']} | {row['outcome']} | {_cell(row.get('measured') or row.get('reason', ''))} | "
                     f"{row.get('report') or ''} |")
    return "\n".join(lines) + "\n"


def collect_reports(plugins_dir: Path) -> list[dict[str, Any]]:
    """Every ``plugins/*/reports/results.json`` (full runs only; unreadable files are skipped)."""
    found = []
    for path in sorted(Path(plugins_dir).glob("*/reports/results.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "verdict" in data and not data.get("smoke"):
            found.append(data)
    return found


def reproductions_page(plugins_dir: Path) -> str:
    """The docs page: one row per plugin with a kept report (paper, claim, measured, verdict, date, command)."""
    lines = [
        "# Reproductions",
        "",
        "Each plugin may declare a miniature reproduction of its paper's claim; `forwardkit reproduce <slug>`",
        "runs it over several seeds and writes `plugins/<slug>/reports/` (report.md, results.json, figure.png).",
        "The verdict is computed from the measured numbers only: *reproduces*, *does not reproduce at this",
        "scale* or *inconclusive*. This page is generated from every `plugins/*/reports/results.json`.",
        "",
    ]
    reports = collect_reports(plugins_dir)
    if not reports:
        return "\n".join([*lines, "No reproduction reports have been written yet."]) + "\n"
    lines += ["| plugin | paper | claim | our result | verdict | date | rerun |", "|---|---|---|---|---|---|---|"]
    for r in reports:
        paper = _cell(r.get("paper", ""))
        if r.get("arxiv"):
            paper = f"[{paper}](https://arxiv.org/abs/{r['arxiv']})"
        verdict = r["verdict"]
        lines.append(
            f"| {r.get('slug', '')} | {paper} | {_cell(r.get('claim', ''))} | {_cell(r.get('measured', ''))} | "
            f"**{verdict.get('outcome', '')}**: {_cell(verdict.get('reason', ''))} | {r.get('date', '')} | "
            f"`{_cell(r.get('command', ''))}` |"
        )
    return "\n".join(lines) + "\n"
