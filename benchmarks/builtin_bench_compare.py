"""``forwardkit bench`` of the builtin mixers, this checkout against an earlier one, alternating in turns.

Runs ``forwardkit bench mixers --names attention,identity`` and ``forwardkit bench channel-mixers --names mlp``
(the default sizes, dim 64, batch 8, ranks 1 and 2, one worker) with the sources of ``--before`` (a folder
holding an earlier ``core/`` and plugin packages, put first on ``PYTHONPATH``) and with this checkout,
``--rounds`` times each, alternating; reports per mixer, rank and size the median over rounds of fwd and
fwd+bwd ms and the ratio after / before. Bar (issue 12): unchanged or faster.

    git archive <commit> core/forwardkit | tar -x -C /tmp/before
    python benchmarks/builtin_bench_compare.py --before /tmp/before --out benchmarks/results/builtin_bench_compare.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "builtin_bench_compare.json"
COMMANDS = [("mixers", "attention,identity"), ("channel-mixers", "mlp")]


def bench(pythonpath: str | None, command: str, names: str, extra: list[str]) -> list[dict[str, Any]]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "forwardkit", "bench", command, "--names", names, "--workers", "1",
                        "--out", tmp, *extra], env=env, check=True, capture_output=True, text=True)
        return json.loads((Path(tmp) / "results.json").read_text())["results"]  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="folder with the earlier core/ (and plugins/)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="forwardkit bench --quick (for a check)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    paths = [str(args.before / "core")] + [str(p) for p in sorted((args.before / "plugins").glob("*"))
                                           if p.is_dir()]
    before_path = os.pathsep.join(paths)
    extra = ["--quick"] if args.quick else []
    runs: dict[str, list[list[dict[str, Any]]]] = {"before": [], "after": []}
    for r in range(args.rounds):
        for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
            rows = [row for command, names in COMMANDS
                    for row in bench(before_path if side == "before" else None, command, names, extra)]
            runs[side].append(rows)
            print(f"round {r + 1} {side}: {len(rows)} rows", flush=True)
    table = []
    keys = sorted({(row["name"], row["rank"], row["tokens"]) for rows in runs["after"] for row in rows})
    for key in keys:
        entry: dict[str, Any] = {"name": key[0], "rank": key[1], "tokens": key[2]}
        for side in ("before", "after"):
            found = [row for rows in runs[side] for row in rows if (row["name"], row["rank"], row["tokens"]) == key]
            for metric in ("fwd_ms", "fwdbwd_ms"):
                entry[f"{side}_{metric}"] = round(statistics.median(row[metric] for row in found), 4)
        for metric in ("fwd_ms", "fwdbwd_ms"):
            ratio = entry[f"after_{metric}"] / entry[f"before_{metric}"]
            entry[f"ratio_{metric.removesuffix('_ms')}"] = round(ratio, 4)
        table.append(entry)
        print(f"  {key[0]:10s} rank {key[1]} N={key[2]:5d}  fwd {entry['ratio_fwd']:.3f}  fwd+bwd "
              f"{entry['ratio_fwdbwd']:.3f}", flush=True)
    result = {
        "what": "forwardkit bench of the builtin mixers (attention, identity, mlp), this checkout (after) against "
                "an earlier one (before), median over alternating rounds; ratio = after / before",
        "before": str(args.before),
        "rounds": args.rounds,
        "worst_ratio_fwdbwd": max(e["ratio_fwdbwd"] for e in table),
        "worst_ratio_fwd": max(e["ratio_fwd"] for e in table),
        "rows": table,
        **machine_info(),
    }
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
