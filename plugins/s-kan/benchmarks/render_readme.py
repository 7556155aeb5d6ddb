"""Fill this plugin's README results block from reports/results.json, as `make sync` does (only this README).

    python plugins/s-kan/benchmarks/render_readme.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE.parents[1] / "tools"))

from generated import fill_block, fill_values  # noqa: E402

from forwardkit.reproduce.report import results_block  # noqa: E402


def main() -> None:
    readme = HERE / "README.md"
    results = json.loads((HERE / "reports" / "results.json").read_text())
    problems: list[str] = []
    text = fill_block(readme.read_text(), "reproduction", results_block(results))
    text = fill_values(text, readme.parent, problems, "plugins/s-kan/README.md")
    if problems:
        raise SystemExit("\n".join(problems))
    readme.write_text(text)


if __name__ == "__main__":
    main()
