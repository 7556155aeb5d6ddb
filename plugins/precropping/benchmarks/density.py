"""Layer-wise densities of the PAI scorers on the card's SmallVGG at d = 0.1, and what cropping achieves.

Runs ``layerwise_density_analyzer`` (SynFlow, SNIP, GraSP, magnitude, random; SNIP and GraSP on the model's
random ``example_batch``, no data) on the default SmallVGG (seed 0) and writes ``reports/density/``:
``layerwise_density.csv`` and ``.png``, ``numbers.json`` (the analyzer's numbers) and ``layers.json``
(``{layer: {scorer: p_l, "cropped": ..., "residual": ...}}``, the table the README quotes).

    OMP_NUM_THREADS=1 python plugins/precropping/benchmarks/density.py [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import torch

import forwardkit

HERE = Path(__file__).resolve().parents[1]
SCORERS = ["synflow", "snip", "grasp", "magnitude", "random"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--density", type=float, default=0.1)
    ap.add_argument("--iterations", type=int, default=100, help="SynFlow rounds")
    ap.add_argument("--out", type=Path, default=HERE / "reports" / "density")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    model = forwardkit.build_model({"name": "small_vgg"})
    analyzer = forwardkit.create("analyzer", "layerwise_density_analyzer", density=args.density, scorers=SCORERS,
                                 iterations=args.iterations, figure=True)
    analysis = analyzer.analyze(model)
    rows = analysis.tables["layerwise_density"]
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "layerwise_density.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    layers = {r["layer"]: {k: v for k, v in r.items() if k != "layer"} for r in rows}
    (args.out / "layers.json").write_text(json.dumps(layers, indent=2) + "\n")
    (args.out / "numbers.json").write_text(json.dumps(analysis.numbers, indent=2, sort_keys=True) + "\n")
    for name, fig in analysis.figures.items():
        fig.savefig(args.out / f"{name}.png", dpi=120, bbox_inches="tight")
    return layers


if __name__ == "__main__":
    main()
