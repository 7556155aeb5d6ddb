"""Which patches does the trained EViT keep? The reproduction's ``evit`` arm (kappa 0.7), seed 0, retrained
with the kept-token analyzer's figure on, so the maps can be shown next to the numbers.

The run is the reproduction's own experiment (``SPEC.experiment("evit", 0)``: same data, recipe, budget and
seed; deterministic on CPU at a fixed thread count, one thread as in the reproduction's workers), so
``reports/kept_tokens.json`` repeats the ``analysis/evit_kept_tokens/...``
figures of that arm's seed 0 in ``reports/results.json``; ``reports/kept_tokens.png`` shows the first test
images (image, then one map per reorganising block; bright = still its own token).

    flock /tmp/fk-fullrun.lock python plugins/evit/benchmarks/kept_tokens.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from forwardkit_evit.reproduction import KEPT_TOKENS, SPEC

from forwardkit.engine.trainer import Trainer

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def experiment(arm: str, seed: int, *, max_images: int) -> dict[str, Any]:
    """The reproduction's experiment of ``arm`` and ``seed`` with the analyzer's figure switched on."""
    exp = SPEC.experiment(arm, seed, name="evit-kept-tokens")
    exp["analyzers"] = [{**KEPT_TOKENS, "figure": True, "max_images": max_images}]
    return exp


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", default="evit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-images", type=int, default=8)
    parser.add_argument("--out", type=Path, default=REPORTS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the reproduction's workers: 1)")
    parser.add_argument("--smoke", action="store_true", help="two steps on the smoke data (checks the script runs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    exp = experiment(args.arm, args.seed, max_images=args.max_images)
    if args.smoke:
        exp = SPEC.experiment(args.arm, args.seed, smoke=True, name="evit-kept-tokens")
        exp["analyzers"] = [{**KEPT_TOKENS, "figure": True, "max_images": 2}]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        final = Trainer(exp, run_dir=run_dir, verbose=False).fit().final
        folder = run_dir / "analysis" / "evit_kept_tokens"
        numbers = json.loads((folder / "numbers.json").read_text())
        out = {"arm": args.arm, "seed": args.seed, "smoke": args.smoke, "threads": args.threads,
               "test_accuracy": final["test/accuracy"],
               "experiment": exp, **numbers}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "kept_tokens.json").write_text(json.dumps(out, indent=2) + "\n")
        shutil.copy(folder / "kept_tokens.png", args.out / "kept_tokens.png")
    print(json.dumps({k: v for k, v in out.items() if k != "experiment"}, indent=1))
    return out


if __name__ == "__main__":
    main()
