"""How long ``forwardkit list --json`` takes with the plugins installed here, and with 56 light plugins more.

The light plugins are generated into a temporary folder put on ``PYTHONPATH``: each has a dist-info folder
(METADATA, an entry point in the ``forwardkit`` group) and a module whose ``forwardkit_register`` hook adds
three token mixers by import path, as a real plugin does; nothing of them is imported by listing. Times are
the wall seconds of the whole command (interpreter start included), the best and the median of ``--repeats``
runs after one run that warms the file cache. Bar (issue 10): under 0.3 s with 64 plugins.

    python benchmarks/list_timing.py                    # writes benchmarks/results/list_timing.json
    python benchmarks/list_timing.py --smoke --out /tmp/l.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result

RESULTS = Path(__file__).resolve().parent / "results" / "list_timing.json"
COMMAND = [sys.executable, "-m", "forwardkit", "list", "--json"]


def write_light_plugins(site: Path, count: int, *, mixers_each: int = 3, prefix: str = "fkfake") -> list[str]:
    """Write ``count`` installable-looking plugins into ``site`` (a folder for ``PYTHONPATH``); their names."""
    names = []
    for i in range(count):
        name = f"{prefix}{i:02d}"
        info = site / f"forwardkit_{name}-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: forwardkit-{name}\nVersion: 0.1.0\n")
        (info / "entry_points.txt").write_text(f"[forwardkit]\n{name} = {name}_plugin\n")
        (site / f"{name}_plugin.py").write_text(
            "from forwardkit.hookspecs import hookimpl\n\n\n@hookimpl\ndef forwardkit_register(registry):\n"
            + "".join(f"    registry.add('token_mixer', '{name}_m{j}', target='{name}_code:M{j}', "
                      f"config='{name}_config:C{j}', summary='mixer {j}')\n" for j in range(mixers_each)))
        names.append(name)
    return names


def listing(env: dict[str, str] | None = None) -> dict[str, Any]:
    """One run of ``forwardkit list --json``: its document and wall seconds."""
    start = time.perf_counter()
    out = subprocess.run(COMMAND, capture_output=True, text=True, env=env, check=True)
    return {"seconds": time.perf_counter() - start, "document": json.loads(out.stdout)}


def timed(env: dict[str, str] | None, repeats: int) -> dict[str, Any]:
    """Warm once, then ``repeats`` timed runs: plugins and components seen, best and median seconds."""
    first = listing(env)["document"]
    seconds = [listing(env)["seconds"] for _ in range(repeats)]
    plugins = {c["plugin"] for c in first["components"]}
    return {"plugins": len(plugins), "components": len(first["components"]), "best_s": round(min(seconds), 4),
            "median_s": round(statistics.median(seconds), 4), "seconds": [round(s, 4) for s in seconds]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=int, default=56, help="light plugins added beside the installed ones")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--smoke", action="store_true", help="4 extra plugins, 1 repeat")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {RESULTS}; none with --smoke)")
    args = parser.parse_args(argv)
    extra, repeats = (4, 1) if args.smoke else (args.extra, args.repeats)
    installed = timed(None, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        write_light_plugins(Path(tmp), extra)
        path = os.pathsep.join(p for p in (tmp, os.environ.get("PYTHONPATH")) if p)
        with_extra = timed({**os.environ, "PYTHONPATH": path}, repeats)
    result = {"what": "wall seconds of `forwardkit list --json` (interpreter start included), after a warm-up run",
              "bar": "best under 0.3 s with 64 plugins", "installed": installed,
              "with_light_plugins": {"extra": extra, **with_extra}, **machine_info()}
    for label, row in (("installed", installed), (f"+{extra} light", with_extra)):
        print(f"{label:12s} {row['plugins']:3d} plugins {row['components']:4d} components  best {row['best_s']:.3f} s"
              f"  median {row['median_s']:.3f} s")
    write_result(args.out if args.out is not None else (None if args.smoke else RESULTS), result)
    return result


if __name__ == "__main__":
    main()
