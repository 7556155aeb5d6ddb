"""The reproduction's comparison curves (card: "NLL(PFN) vs NLL(GP) vs number of training points"), drawn from
``reports/results.json`` without training anything: the mean query NLL of the PFN, the exact GP, the prior predictive
and the wrong-lengthscale GP against n_train, averaged over the seeds (each seed: 2,000 datasets x 10 queries), with
the seeds' range as error bars, and the PFN's gap NLL(PFN) - NLL(GP) beside it with the card's bars.

    python plugins/pfn/benchmarks/curves.py [--results PATH] [--out PATH]

Writes plugins/pfn/reports/nll_curves.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REPORTS = Path(__file__).resolve().parents[1] / "reports"
PREFIX = "analysis/gp_posterior_reference/"
WHO = (("nll_pfn", "PFN"), ("nll_gp", "exact GP (target)"), ("nll_prior", "prior predictive"),
       ("nll_wrong_ls", "GP, lengthscale 0.05"))


def curves(results: dict[str, Any]) -> dict[str, dict[int, list[float]]]:
    """``{key: {n: [value per seed]}}`` for every ``<key>/n<n>`` figure of the analyzer in the pfn arm's finals."""
    out: dict[str, dict[int, list[float]]] = {}
    for final in results["arms"]["pfn"]["final"]:
        for name, value in final.items():
            if not name.startswith(PREFIX) or "/n" not in name[len(PREFIX):]:
                continue
            key, n = name[len(PREFIX):].rsplit("/n", 1)
            out.setdefault(key, {}).setdefault(int(n), []).append(float(value))
    return out


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=REPORTS / "results.json")
    ap.add_argument("--out", type=Path, default=REPORTS / "nll_curves.png")
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = curves(json.loads(args.results.read_text(encoding="utf-8")))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in WHO:
        if key not in data:
            continue
        ns = sorted(data[key])
        means = [sum(data[key][n]) / len(data[key][n]) for n in ns]
        low = [m - min(data[key][n]) for m, n in zip(means, ns, strict=True)]
        high = [max(data[key][n]) - m for m, n in zip(means, ns, strict=True)]
        left.errorbar(ns, means, yerr=[low, high], marker="o", capsize=3, label=label)
    left.set_xlabel("training points n")
    left.set_ylabel("mean query NLL (nats)")
    left.set_title("posterior predictive NLL (mean of seeds, range)")
    left.legend(fontsize=8)
    ns = sorted(data["gap"])
    for i in range(len(data["gap"][ns[0]])):
        right.plot(ns, [data["gap"][n][i] for n in ns], marker="o", alpha=0.8, label=f"seed {i}")
    right.step([0, 20, 40], [0.1, 0.1, 0.2], where="post", color="k", linestyle="--", label="pass bar")
    right.axhline(0.3, color="r", linestyle=":", label="does not reproduce (n >= 5)")
    right.axhline(0.0, color="grey", linewidth=0.5)
    right.set_xlabel("training points n")
    right.set_ylabel("NLL(PFN) - NLL(GP) (nats)")
    right.set_title("gap to the exact GP")
    right.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
