"""The outputs of a reproduction (report.md, results.json, figure.png) and the docs' "Reproductions" page.

Torch-free; matplotlib is imported only to draw the figure.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from forwardkit.reproduce.history import history_markdown


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4g}"


def interval_text(fig: dict[str, Any]) -> str:
    """``mean [low, high]`` of a summarized figure (``mean [no interval]`` with one seed)."""
    if fig.get("low") is None or fig.get("high") is None:
        return f"{_num(fig['mean'])} [no interval]"
    return f"{_num(fig['mean'])} [{_num(fig['low'])}, {_num(fig['high'])}]"


def level_sentence(r: dict[str, Any]) -> str:
    level = r.get("level", 0.9)
    pairing = ("arms are compared seed by seed (paired t: the arms of one seed share its data and initialisation)"
               if r.get("paired", True) else "arms are compared as independent samples (Welch's t)")
    return (f"Intervals are two-sided {level:.0%} t intervals (a one-sided {1 - (1 - level) / 2:.0%} test of each "
            f"directional claim); {pairing}; fewer than 3 seeds never reproduce.")


def conditions_table(r: dict[str, Any]) -> list[str]:
    level = r.get("level", 0.9)
    lines = [f"| # | condition | estimate | {level:.0%} interval | verdict |", "|---|---|---|---|---|"]
    for c in r["verdict"]["conditions"]:
        iv = c.get("interval") or {}
        span = f"[{_num(iv.get('low'))}, {_num(iv.get('high'))}]" if iv else "-"
        label = f" — *{_cell(c['label'])}*" if c.get("label") else ""
        lines.append(f"| {c['index'] + 1} | {_cell(c['text'])}{label} | {_num(c.get('estimate'))} | {span} | "
                     f"**{c['outcome']}**: {_cell(c['reason'])} |")
    return lines


def _figure_tables(r: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for arm in r["arms"].values():
        names += [n for n in arm["figures"] if n not in names]
    level = r.get("level", 0.9)
    lines: list[str] = []
    for name in names:
        lines += [f"**{name}** ({r['direction'] if name == r['metric'] else 'see the conditions'} is better)"
                  if name == r["metric"] else f"**{name}**", "",
                  f"| arm | role | mean [{level:.0%} CI] | n | per seed ({', '.join(map(str, r['seeds']))}) |",
                  "|---|---|---|---|---|"]
        for arm_name, arm in r["arms"].items():
            fig = arm["figures"].get(name)
            if fig is None:
                continue
            per = ", ".join(_num(x) for x in fig["values"])
            lines.append(f"| `{arm_name}` | {arm['role']} | {interval_text(fig)} | {fig['n']} | {per} |")
        lines.append("")
    lines += ["| arm | kind | role | seconds (all seeds) |", "|---|---|---|---|"]
    lines += [f"| `{n}` | {a['kind']} | {a['role']} | {a['seconds']:.1f} |" for n, a in r["arms"].items()]
    return lines


def _without_nulls(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_nulls(v) for k, v in obj.items() if v is not None}
    return obj


def report_markdown(results: dict[str, Any]) -> str:
    r, v = results, results["verdict"]
    arxiv = f" ([arXiv:{r['arxiv']}](https://arxiv.org/abs/{r['arxiv']}))" if r.get("arxiv") else ""
    spec = r["spec"]
    lines = [f"# Reproduction: {r['slug']}", ""]
    if r.get("smoke"):
        lines += ["> **Smoke run**: a tiny budget that checks the harness runs; the verdict below means nothing "
                  "about the paper.", ""]
    exploratory = [n for n, a in r["arms"].items() if a["role"] == "exploratory"]
    lines += [
        f"**Paper** {r['paper']}{arxiv}", "",
        f"**Claim** {r['claim']}", "",
        f"**Paper's result** {r['paper_result']}", "",
        f"## Verdict: {v['label']}", "",
        v["reason"], "",
        "## Pass bar (preregistered)", "",
        "The spec card's pass bar, as written down before the first full run:", "",
        *[f"> {line}" for line in r["pass_bar"].splitlines()], "",
        f"Spec hash `{r['spec_hash']}`. {level_sentence(r)}", "",
    ]
    if r.get("deviations"):
        lines += ["Deviations from the card (for every arm alike):", "", *[f"- {d}" for d in r["deviations"]], ""]
    lines += ["## Conditions", "", *conditions_table(r), ""]
    if exploratory:
        lines += ["Exploratory arms (no condition reads them; reported, not judged): "
                  + ", ".join(f"`{n}`" for n in exploratory) + ".", ""]
    lines += ["## Results", "", *_figure_tables(r), "", "![per-arm results](figure.png)", "",
              "## History", "", history_markdown(r.get("history", []), r["spec_hash"]), "",
              "## Setup", "",
              "Every experiment arm is `base` deep-merged with the arm's overrides"
              + (", then the smoke overrides" if r.get("smoke") else "") + "; the seed is set per run. "
              "Program arms call their declared function with their config and the seed.", "",
              "```yaml",
              yaml.safe_dump({"base": spec["base"], "arms": spec["arms"],
                              "conditions": [_without_nulls(c) for c in spec["conditions"]],
                              **({"smoke": spec["smoke"]} if r.get("smoke") else {})}, sort_keys=False).rstrip(),
              "```", "",
              f"Date {r['date']} · torch {r['torch']} · Python {r['python']} · {r['workers']} worker(s) · "
              f"{r['minutes']:.1f} min (expected {r['expected_minutes']:g} min for a full run)", "",
              "Rerun:", "", "```bash", r["command"], "```", ""]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """One panel per figure the conditions read: each arm's mean with its interval, and a point per seed.

    Points and intervals rather than bars, so that an axis that does not start at zero misleads nobody.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names: list[str] = []
    for arm in results["arms"].values():
        names += [n for n in arm["figures"] if n not in names]
    names = names[:4] or [results["metric"]]
    width = max(3.5, 0.9 * len(results["arms"]) + 1.5)
    fig, axes = plt.subplots(1, len(names), figsize=(width * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        arms = [(n, a) for n, a in results["arms"].items() if name in a["figures"]]
        for i, (_, arm) in enumerate(arms):
            f = arm["figures"][name]
            color = "#1f4e99" if arm["role"] == "condition" else "#999999"
            n = len(f["values"])
            ax.scatter([i + 0.18 + (j - (n - 1) / 2) * 0.05 for j in range(n)], f["values"], color=color, s=10,
                       alpha=0.5, zorder=2)
            if f.get("low") is not None and f.get("high") is not None:
                ax.errorbar(i, f["mean"], yerr=[[f["mean"] - f["low"]], [f["high"] - f["mean"]]], fmt="o",
                            color=color, capsize=5, zorder=3)
            else:
                ax.plot(i, f["mean"], "o", color=color, zorder=3)
        ax.set_xticks(range(len(arms)), [n for n, _ in arms], rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(arms) - 0.4)
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(name, fontsize=9)
    level = results.get("level", 0.9)
    fig.suptitle(f"{results['slug']}: {results['verdict']['label']}\n(mean and {level:.0%} CI; dots: seeds; "
                 "grey: exploratory arms)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (results.json stays standard JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def results_block(r: dict[str, Any], *, report: str = "reports/report.md") -> str:
    """The results block of a plugin README, written from its results.json by ``make sync``."""
    from forwardkit.reproduce.spec import canonical_hash

    v = r["verdict"]
    level = r.get("level", 0.9)
    digest = canonical_hash(r.get("spec"), r["spec_hash"])
    lines = [f"**Verdict: {v['label']}** ({sum(c['outcome'] == 'reproduces' for c in v['conditions'])} of "
             f"{len(v['conditions'])} conditions hold) · {len(r['seeds'])} seeds · {level:.0%} intervals · spec "
             f"`{digest}` · run {r['date']} · [full report]({report})", "", *conditions_table(r), ""]
    metric = r["metric"]
    rows = [(n, a) for n, a in r["arms"].items() if metric in a["figures"]]
    if rows:
        lines += [f"| arm | role | {metric} mean [{level:.0%} CI] | per seed |", "|---|---|---|---|"]
        lines += [f"| `{n}` | {a['role']} | {interval_text(a['figures'][metric])} | "
                  f"{', '.join(_num(x) for x in a['figures'][metric]['values'])} |" for n, a in rows]
        lines.append("")
    history = r.get("history", [])
    changed = sum(canonical_hash(h.get("spec"), h.get("spec_hash")) != digest for h in history)
    lines.append(f"Earlier full runs kept in the report's history: {len(history)}"
                 + (f" ({changed} with a different spec)." if changed else "."))
    return "\n".join(lines) + "\n"


def write_outputs(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results = json_safe(results)
    (out / "results.json").write_text(json.dumps(results, indent=2, allow_nan=False) + "\n", encoding="utf-8")
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


def verdict_summary(r: dict[str, Any]) -> str:
    """One cell: the verdict and how many conditions hold, e.g. ``reproduces (3/3 conditions)``."""
    v = r["verdict"]
    conds = v.get("conditions", [])
    held = sum(c["outcome"] == "reproduces" for c in conds)
    if not conds:  # a results.json from before conditions
        return f"{v['outcome']} (one comparison, before conditions)"
    return f"{v.get('label', v['outcome'])} ({held} of {len(conds)} conditions hold)"


def reproductions_page(plugins_dir: Path) -> str:
    """The docs page: one row per plugin with a kept report (paper, claim, verdict, conditions, date, command)."""
    lines = [
        "# Reproductions",
        "",
        "Each plugin declares a miniature reproduction of its paper's claim; `forwardkit reproduce <slug>`",
        "runs it over several seeds and writes `plugins/<slug>/reports/` (report.md, results.json, figure.png).",
        "The verdict is computed from the measured numbers only, condition by condition: *reproduces* when",
        "every condition of the card's pass bar holds, *does not reproduce at this scale* when one clearly",
        "fails, *inconclusive* otherwise. This page is generated from every `plugins/*/reports/results.json`.",
        "",
    ]
    reports = collect_reports(plugins_dir)
    if not reports:
        return "\n".join([*lines, "No reproduction reports have been written yet."]) + "\n"
    lines += ["| plugin | paper | claim | verdict | conditions | date | rerun |", "|---|---|---|---|---|---|---|"]
    for r in reports:
        paper = _cell(r.get("paper", ""))
        if r.get("arxiv"):
            paper = f"[{paper}](https://arxiv.org/abs/{r['arxiv']})"
        conds = "; ".join(f"{c['index'] + 1}. {c['text']}: {c['outcome']}" for c in r["verdict"].get("conditions", []))
        lines.append(
            f"| {r.get('slug', '')} | {paper} | {_cell(r.get('claim', ''))} | **{_cell(verdict_summary(r))}** | "
            f"{_cell(conds or r['verdict'].get('reason', ''))} | {r.get('date', '')} | "
            f"`{_cell(r.get('command', ''))}` |"
        )
    return "\n".join(lines) + "\n"
