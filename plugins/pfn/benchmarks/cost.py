"""Cost benchmark (card "Performance notes"): prediction time of the PFN against exact GP inference, and against
MCMC for a BNN prior, in one process.

Inference with a PFN is ONE forward pass on the training points and the queries. Timed per call, for one dataset of
n training points and ``--queries`` query points (x in [0, 1]), in interleaved rounds (``forwardkit.measure.
interleaved_ms``) with per-round median ratios (``median_ratios``):

* ``gp_exact`` (the baseline): the exact GP posterior predictive mean and variance at the queries, batched
  Cholesky in float64 (``gp_posterior_predictive``: O(n^3));
* ``pfn_masked``: the reproduction's PFN (d_model 128, 4 layers, 4 heads, d_ff 256, 100 buckets; eval mode, no
  gradients) on the T = n + q tokens with the full (T, T) masked attention, then the bar distribution's mean;
* ``pfn_split``: the same weights with the split attention (train->train and query->(train, self), O(n^2 + q n)).

for n in ``--n-train`` (default 10, 50, 200, 1000, 2000). Ratios above 1: slower than the exact GP.

BNN prior (the paper's >200x speed-up claim vs MCMC / SVI): ``bnn_hmc`` is Hamiltonian Monte Carlo on the
posterior of the ``bnn_prior`` MLP's weights (``--hmc-samples`` samples after as many warm-up iterations, 10
leapfrog steps each, step size adapted during warm-up), then the predictive mean at the queries, against the PFN's
one forward pass (``pfn_masked``) on the same data; the ratio is hmc / pfn (above 1: the PFN is faster). Only the
direction and the order of magnitude are the claim on CPU. The PFN's weights do not change its cost, so it is not
trained here (the reproduction trains it).

    python plugins/pfn/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--rounds R]

Writes plugins/pfn/reports/cost.json (``--smoke``: a tiny PFN, 2 rounds, small n, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_pfn.config import BNNPriorConfig
from forwardkit_pfn.model import PFNTransformer
from forwardkit_pfn.priors import bnn_from_noise, sample_bnn_prior
from forwardkit_pfn.reference import gp_posterior_predictive

from forwardkit.measure import count_parameters, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "gp_exact"
GP: dict[str, float] = {"noise": 0.01, "outputscale": 1.0, "lengthscale": 0.2}
FULL_MODEL: dict[str, Any] = {"d_model": 128, "n_layers": 4, "n_heads": 4, "d_ff": 256, "num_buckets": 100}
SMOKE_MODEL: dict[str, Any] = {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 16, "num_buckets": 10}


def _models(config: dict[str, Any]) -> tuple[PFNTransformer, PFNTransformer]:
    torch.manual_seed(0)
    masked = PFNTransformer(**config).eval()
    split = PFNTransformer(**config, attention="split").eval()
    split.load_state_dict(masked.state_dict())
    return masked, split


def _pfn_call(model: PFNTransformer, xt: torch.Tensor, yt: torch.Tensor, xq: torch.Tensor) -> Callable[[], Any]:
    def call() -> Any:
        with torch.no_grad():
            return model.bar.mean(model.predict(xt, yt, xq))

    return call


def _gp_call(xt: torch.Tensor, yt: torch.Tensor, xq: torch.Tensor) -> Callable[[], Any]:
    def call() -> Any:
        return gp_posterior_predictive(xt, yt, xq, **GP)

    return call


# ---- HMC for the BNN prior (the MCMC baseline) ------------------------------------------------------------------
def _unflatten(theta: torch.Tensor, shapes: list[tuple[int, int]]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    weights, biases, i = [], [], 0
    for fan_in, fan_out in shapes:
        weights.append(theta[i : i + fan_in * fan_out].view(1, fan_in, fan_out))
        i += fan_in * fan_out
        biases.append(theta[i : i + fan_out].view(1, 1, fan_out))
        i += fan_out
    return weights, biases


def hmc_bnn_predictive(xt: torch.Tensor, yt: torch.Tensor, xq: torch.Tensor, config: BNNPriorConfig, *,
                       samples: int, warmup: int, leapfrog: int = 10, step: float = 0.02,
                       seed: int = 0) -> torch.Tensor:
    """The BNN posterior predictive mean at ``xq`` ``(1, q, d)`` by HMC over the raw standard-normal weights of
    ``bnn_from_noise`` (prior N(0, I), Gaussian likelihood with ``noise_std``) given ``xt`` ``(1, n, d)``, ``yt``
    ``(1, n)``: ``warmup`` iterations adapting the step size towards 65-80 % acceptance, then ``samples`` kept
    iterations of ``leapfrog`` steps each. Returns ``(1, q)``."""
    g = torch.Generator().manual_seed(seed)
    widths = [config.num_features] + [config.hidden_dim] * config.num_layers + [1]
    shapes = list(itertools.pairwise(widths))
    dim = sum(a * b + b for a, b in shapes)
    xt64, yt64, xq64 = xt.double(), yt.double(), xq.double()
    zero_t, zero_q = torch.zeros(1, xt.shape[1], dtype=torch.float64), torch.zeros(1, xq.shape[1],
                                                                                   dtype=torch.float64)

    def f(theta: torch.Tensor, x: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
        w, b = _unflatten(theta, shapes)
        return bnn_from_noise(x, w, b, zero, config)

    def potential(theta: torch.Tensor) -> torch.Tensor:
        resid = yt64 - f(theta, xt64, zero_t)
        return 0.5 * theta.pow(2).sum() + 0.5 * resid.pow(2).sum() / config.noise_std**2

    def grad(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        theta = theta.detach().requires_grad_(True)
        u = potential(theta)
        (g_theta,) = torch.autograd.grad(u, theta)
        return u.detach(), g_theta

    theta = torch.randn(dim, generator=g, dtype=torch.float64)
    u, du = grad(theta)
    total = torch.zeros(1, xq.shape[1], dtype=torch.float64)
    for it in range(warmup + samples):
        p = torch.randn(dim, generator=g, dtype=torch.float64)
        h0 = u + 0.5 * p.pow(2).sum()
        th, mom, g_th = theta, p - 0.5 * step * du, du
        for k in range(leapfrog):
            th = th + step * mom
            u_new, g_th = grad(th)
            if k < leapfrog - 1:
                mom = mom - step * g_th
        mom = mom - 0.5 * step * g_th
        h1 = u_new + 0.5 * mom.pow(2).sum()
        accept = bool(torch.rand((), generator=g, dtype=torch.float64) < torch.exp(h0 - h1).clamp(max=1.0))
        if accept and math.isfinite(float(h1)):
            theta, u, du = th.detach(), u_new, g_th
        if it < warmup:
            step *= 1.05 if accept else 0.85
        else:
            with torch.no_grad():
                total += f(theta, xq64, zero_q)
    return total / max(samples, 1)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny PFN, small n and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--queries", type=int, default=100, help="query points per dataset")
    ap.add_argument("--n-train", type=int, nargs="+", default=None,
                    help="training points (default 10 50 200 1000 2000)")
    ap.add_argument("--hmc-samples", type=int, default=None, help="HMC samples kept (and as many warm-up)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = SMOKE_MODEL if args.smoke else FULL_MODEL
    rounds = args.rounds or (2 if args.smoke else 15)
    warmup = 0 if args.smoke else 3
    n_values = args.n_train or ([4, 16] if args.smoke else [10, 50, 200, 1000, 2000])
    queries = 8 if args.smoke else args.queries
    masked, split = _models(config)
    g = torch.Generator().manual_seed(0)

    gp_rows: dict[str, Any] = {}
    for n in n_values:
        xt, xq = torch.rand(1, n, 1, generator=g), torch.rand(1, queries, 1, generator=g)
        yt = torch.sin(6 * xt[..., 0]) + 0.1 * torch.randn(1, n, generator=g)
        calls = {BASELINE: _gp_call(xt, yt, xq), "pfn_masked": _pfn_call(masked, xt, yt, xq),
                 "pfn_split": _pfn_call(split, xt, yt, xq)}
        times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
        gp_rows[str(n)] = {"median_ms": medians(times), "time_ratio_over_gp_exact": median_ratios(times, BASELINE)}

    bnn = BNNPriorConfig(seq_len=50 + queries, max_train_points=1)
    data = sample_bnn_prior(1, bnn)
    n_bnn = 10 if args.smoke else 50
    xt, yt, xq = data["x"][:, :n_bnn], data["y"][:, :n_bnn], data["x"][:, 50 : 50 + queries]
    hmc_samples = args.hmc_samples or (5 if args.smoke else 200)
    bnn_calls = {
        "pfn_masked": _pfn_call(masked, xt, yt, xq),
        "bnn_hmc": lambda: hmc_bnn_predictive(xt, yt, xq, bnn, samples=hmc_samples, warmup=hmc_samples),
    }
    bnn_rounds = 2 if args.smoke else 3
    bnn_times = interleaved_ms(bnn_calls, rounds=bnn_rounds, warmup=0 if args.smoke else 1)
    result: dict[str, Any] = {
        "smoke": args.smoke, "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "model": config, "parameters": count_parameters(masked), "queries": queries, "rounds": rounds,
        "warmup": warmup, "gp": GP,
        "by_n_train": gp_rows,
        "pfn_over_gp": {n: row["time_ratio_over_gp_exact"]["pfn_masked"] for n, row in gp_rows.items()},
        "pfn_split_over_gp": {n: row["time_ratio_over_gp_exact"]["pfn_split"] for n, row in gp_rows.items()},
        "bnn": {"n_train": n_bnn, "hmc_samples": hmc_samples, "hmc_warmup": hmc_samples, "leapfrog": 10,
                "rounds": bnn_rounds, "median_ms": medians(bnn_times),
                "hmc_over_pfn": median_ratios(bnn_times, "pfn_masked")["bnn_hmc"]},
        "note": "one dataset per call: n training points and `queries` query points, x in [0, 1]; gp_exact is the "
                "float64 Cholesky posterior predictive (mean, variance), pfn_* one no-grad forward pass plus the bar "
                "mean; ratios are per-round medians of a candidate's time over the baseline's in the same round "
                "(above 1: slower than gp_exact; hmc_over_pfn above 1: the PFN is faster than HMC)",
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({"pfn_over_gp": result["pfn_over_gp"], "pfn_split_over_gp": result["pfn_split_over_gp"],
                      "hmc_over_pfn": result["bnn"]["hmc_over_pfn"]}, indent=1))
    return result


if __name__ == "__main__":
    main()
