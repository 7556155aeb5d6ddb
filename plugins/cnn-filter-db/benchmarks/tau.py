"""How well the card's tau(N) fits the variance entropy of random filters (the normaliser of H_norm).

For each N, the mean variance entropy ``H`` (log10) of ``--draws`` layers of N i.i.d. Gaussian 3x3 filters,
against ``tau(N) = Lc / (1 + exp(-k (log2 N - x0))) + b``; their ratio is the H_norm a random layer of N
filters gets. Writes ``reports/tau.json``.

    python plugins/cnn-filter-db/benchmarks/tau.py [--draws 200]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from forwardkit_cnn_filter_db.quality import entropy_baseline, variance_entropy

HERE = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64, 256, 4096])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--out", type=Path, default=HERE / "reports" / "tau.json")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"draws": args.draws, "sizes": {}}
    for n in args.sizes:
        h = [variance_entropy(rng.standard_normal((n, 1, 3, 3))) for _ in range(args.draws)]
        tau = entropy_baseline(n)
        out["sizes"][str(n)] = {"mean_entropy": float(np.mean(h)), "tau": float(tau),
                                "random_ve_norm": float(np.mean(h) / tau)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
