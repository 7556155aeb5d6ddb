"""How much of the PFN's gap the 100 buckets alone explain (card pitfall "bucket resolution"), without training.

The bar distribution can only represent densities that are piecewise constant inside its buckets (half-normal in the
two tails). For fixed borders the best such density for a query, in KL to the exact GP predictive N(mu, var), puts
on every bucket exactly the GP's mass there: p_m = Phi((b_{m+1} - mu) / sd) - Phi((b_m - mu) / sd), the tails taking
the mass beyond b_1 and b_{M-1}. Its NLL minus the GP's NLL is the *discretisation floor*: the gap a perfectly
trained PFN with these borders would still have.

For each seed of the reproduction this rebuilds the run's borders (the bar_distribution task of the seed's
experiment: the same prior sample) and its 2,000 test datasets (the same per-item generators), scores the exact GP
and its bucketed projection on the last 10 points for each n_train, and writes ``reports/bucket_floor.json`` with
``floor/n<n>`` per seed and its mean, beside the measured gap read from ``reports/results.json``.

    python plugins/pfn/benchmarks/bucket_floor.py [--seeds 0 1 2] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch
from forwardkit_pfn.bar import BarDistributionTask
from forwardkit_pfn.priors import GPPrior
from forwardkit_pfn.reference import gaussian_nll, gp_posterior_predictive
from forwardkit_pfn.reproduction import GP, N_TRAIN, SPEC

from forwardkit.measure import save_report

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def bucket_logits(mean: torch.Tensor, var: torch.Tensor, borders: torch.Tensor) -> torch.Tensor:
    """log p_m ``(..., M)`` of N(mean, var) ``(...)`` on the buckets of ``borders`` ``(M + 1,)`` (full support: the
    outer buckets take all the mass beyond their inner borders)."""
    b = borders.double()
    sd = var.sqrt().unsqueeze(-1)
    cdf = 0.5 * (1 + torch.erf((b[1:-1] - mean.unsqueeze(-1)) / (sd * math.sqrt(2))))  # (..., M - 1)
    zeros, ones = torch.zeros_like(cdf[..., :1]), torch.ones_like(cdf[..., :1])
    mass = torch.cat([cdf, ones], -1) - torch.cat([zeros, cdf], -1)
    return mass.clamp(min=1e-300).log()


def floor_for_seed(seed: int, n_train: list[int], queries: int) -> dict[str, float]:
    exp = SPEC.experiment("pfn", seed)
    data_cfg = {k: v for k, v in exp["data"].items() if k != "name"}
    data_cfg["seed"] = seed
    prior = GPPrior(**data_cfg)
    task_cfg = {k: v for k, v in exp["trainer"]["task"].items() if k != "name"}
    task = BarDistributionTask(**task_cfg, prior={"name": "gp_prior", **prior.config.model_dump(mode="json")})
    bar = task.bar.double()
    split = prior.split("test")
    items = split.__getitems__(list(range(len(split))))
    x = torch.stack([it["x"] for it in items]).double()
    y = torch.stack([it["y"] for it in items]).double()
    xq, yq = x[:, -queries:], y[:, -queries:]
    out: dict[str, float] = {}
    for n in n_train:
        mean, var = gp_posterior_predictive(x[:, :n], y[:, :n], xq, **GP)
        nll_gp = float(gaussian_nll(mean, var, yq).mean())
        nll_bar = float(bar.nll(bucket_logits(mean, var, bar.borders), yq).mean())
        out[f"nll_gp/n{n}"] = nll_gp
        out[f"nll_gp_bucketed/n{n}"] = nll_bar
        out[f"floor/n{n}"] = nll_bar - nll_gp
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SPEC.seeds))
    ap.add_argument("--out", type=Path, default=REPORTS / "bucket_floor.json")
    ap.add_argument("--results", type=Path, default=REPORTS / "results.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    per_seed = {str(s): floor_for_seed(s, N_TRAIN, 10) for s in args.seeds}
    measured: dict[str, list[float]] = {}
    if args.results.is_file():
        results = json.loads(args.results.read_text(encoding="utf-8"))
        finals = results["arms"]["pfn"]["final"]
        for n in N_TRAIN:
            measured[f"gap/n{n}"] = [float(f[f"analysis/gp_posterior_reference/gap/n{n}"]) for f in finals]
            measured[f"nll_gp/n{n}"] = [float(f[f"analysis/gp_posterior_reference/nll_gp/n{n}"]) for f in finals]
    mean_floor = {f"n{n}": sum(v[f"floor/n{n}"] for v in per_seed.values()) / len(per_seed) for n in N_TRAIN}
    share = {}
    if measured:
        for n in N_TRAIN:
            gap = sum(measured[f"gap/n{n}"]) / len(measured[f"gap/n{n}"])
            share[f"n{n}"] = mean_floor[f"n{n}"] / gap if gap > 0 else float("nan")
    result = {
        "seeds": args.seeds, "n_train": N_TRAIN, "queries": 10, "gp": GP,
        "per_seed": per_seed, "floor_mean": mean_floor,
        "measured_gap_mean": {f"n{n}": sum(measured[f"gap/n{n}"]) / len(measured[f"gap/n{n}"]) for n in N_TRAIN}
        if measured else {},
        "floor_share_of_gap": share,
        "nll_gp_matches_results": all(
            abs(per_seed[str(s)][f"nll_gp/n{n}"] - measured[f"nll_gp/n{n}"][i]) < 1e-4
            for i, s in enumerate(args.seeds) for n in N_TRAIN) if measured else None,
        "note": "floor = NLL of the exact GP predictive projected onto the run's buckets (its mass per bucket, the "
                "half-normal tails beyond b_1 and b_{M-1}) minus the exact GP's NLL, on the same test datasets and "
                "queries as the reproduction: the gap that remains for a perfectly trained PFN with these borders",
    }
    save_report(result, args.out)
    print(json.dumps({"floor_mean": mean_floor, "measured_gap_mean": result["measured_gap_mean"],
                      "nll_gp_matches_results": result["nll_gp_matches_results"]}, indent=1))
    return result


if __name__ == "__main__":
    main()
