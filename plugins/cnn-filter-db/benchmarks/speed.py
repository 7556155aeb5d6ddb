"""The card's performance notes: seconds of ``shift_matrix`` and ``layer_quality`` on synthetic filters.

The card's targets: the shift of 1e6 filters in < 5 s and of 1e7 in < 60 s on 2 cores. Two groups of N/2
i.i.d. Gaussian 3x3 filters (no subsampling: ``max_filters_per_group = N``) go through peak scaling, the
pooled PCA, one FFT-KDE per group and component and the KL matrix; ``layer_quality`` measures one layer of
``(N / 1000, 1000, 3, 3)``. Medians of ``--repeats`` calls; the machine's load average is recorded beside
them (the 2 cores are shared). Writes ``reports/speed.json``.

    OMP_NUM_THREADS=1 python plugins/cnn-filter-db/benchmarks/speed.py [--sizes 100000 1000000 10000000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from forwardkit_cnn_filter_db.config import FilterShiftConfig
from forwardkit_cnn_filter_db.quality import layer_quality
from forwardkit_cnn_filter_db.shift import shift_matrix

HERE = Path(__file__).resolve().parents[1]


def seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "reports" / "speed.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "threads": args.threads, "repeats": args.repeats,
                              "load_average_before": os.getloadavg()[0], "shift_seconds": {}, "quality_seconds": {}}
    warm = {"a": rng.standard_normal((100, 9)), "b": rng.standard_normal((100, 9))}
    shift_matrix(warm), layer_quality(rng.standard_normal((4, 25, 3, 3)))  # imports and FFT plans, untimed
    for n in args.sizes:
        groups = {"a": rng.standard_normal((n // 2, 9)).astype(np.float32),
                  "b": rng.standard_normal((n - n // 2, 9)).astype(np.float32)}
        cfg = FilterShiftConfig(max_filters_per_group=max(n, 2))
        result["shift_seconds"][str(n)] = seconds(lambda g=groups, c=cfg: shift_matrix(g, c), args.repeats)
        weight = rng.standard_normal((max(n // 1000, 1), 1000, 3, 3)).astype(np.float32)
        result["quality_seconds"][str(n)] = seconds(lambda w=weight: layer_quality(w), args.repeats)
    result["load_average_after"] = os.getloadavg()[0]
    result["targets_seconds"] = {"1000000": 5.0, "10000000": 60.0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
