"""The exact GP posterior predictive, the PFN's target (paper sec. 5.1, Fig. 3; official ``priors/fast_gp.py``
evaluate, which uses gpytorch), here by Cholesky with ``torch.linalg`` in float64, no gpytorch.

For training inputs X ``(n, d)``, targets y ``(n,)`` and queries X* ``(q, d)``, with K = s_f^2 k_l(X, X) +
(s_n^2 + jitter) I = L L^T and K* = s_f^2 k_l(X, X*) (Rasmussen and Williams 2006, Algorithm 2.1):

    alpha = L^T \\ (L \\ y),  mu* = K*^T alpha,  v = L \\ K*,  var_f* = s_f^2 - sum_i v_i^2,  var_y* = var_f* + s_n^2

and the predictive NLL of y* is 0.5 log(2 pi var_y*) + (y* - mu*)^2 / (2 var_y*). With n = 0 it is the prior
predictive N(0, s_f^2 + s_n^2).

:class:`GPPosteriorReference` (``gp_posterior_reference``) scores the PFN, the exact GP, the prior predictive and
optionally a GP with a wrong lengthscale on the same datasets, for each number of training points n: the first n
points of each dataset are its training set, its last ``num_queries`` points the queries.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_pfn.config import GPPosteriorReferenceConfig
from forwardkit_pfn.priors import rbf_kernel

__all__ = ["GPPosteriorReference", "gaussian_nll", "gp_posterior_predictive"]


def gp_posterior_predictive(x_train: Tensor, y_train: Tensor, x_query: Tensor, *, noise: float, outputscale: float,
                            lengthscale: float, jitter: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Mean and variance of y* (noise included), each ``(B, q)``, float64, for ``x_train`` ``(B, n, d)``,
    ``y_train`` ``(B, n)``, ``x_query`` ``(B, q, d)`` (batched Cholesky; n = 0 gives the prior predictive)."""
    xq = x_query.double()
    batch, q = xq.shape[:2]
    if x_train.shape[1] == 0:
        return (torch.zeros(batch, q, dtype=torch.float64),
                torch.full((batch, q), outputscale + noise, dtype=torch.float64))
    xt, yt = x_train.double(), y_train.double()
    n = xt.shape[1]
    k = outputscale * rbf_kernel(xt, xt, lengthscale) + (noise + jitter) * torch.eye(n, dtype=torch.float64)
    chol = torch.linalg.cholesky(k)
    k_star = outputscale * rbf_kernel(xt, xq, lengthscale)  # (B, n, q)
    alpha = torch.cholesky_solve(yt.unsqueeze(-1), chol)  # (B, n, 1)
    mean = (k_star.transpose(-2, -1) @ alpha).squeeze(-1)
    v = torch.linalg.solve_triangular(chol, k_star, upper=False)
    var_f = (outputscale - v.pow(2).sum(-2)).clamp(min=0.0)
    return mean, var_f + noise


def gaussian_nll(mean: Tensor, var: Tensor, y: Tensor) -> Tensor:
    """-log N(y; mean, var) elementwise."""
    return 0.5 * torch.log(2 * math.pi * var) + (y.double() - mean).pow(2) / (2 * var)


def _small_pfn() -> nn.Module:
    import forwardkit

    return forwardkit.build_model({"name": "pfn_transformer", "d_model": 16, "n_heads": 2, "n_layers": 1,
                                   "d_ff": 16, "num_buckets": 10})


class GPPosteriorReference(Analyzer):
    """``gp_posterior_reference``: NLL and MSE of the PFN (when the model is one), the exact GP, the prior
    predictive and a wrong-lengthscale GP against the number of training points; numbers ``nll_<who>/n<n>``,
    ``mse_<who>/n<n>`` and ``gap/n<n>`` = nll_pfn - nll_gp (nats), a table ``curves`` and a figure."""

    Config = GPPosteriorReferenceConfig
    config: GPPosteriorReferenceConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (_small_pfn,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"n_train": [0, 1, 3], "num_queries": 2, "wrong_lengthscale": 0.05, "plot": False},
    )

    def _gp(self, xt: Tensor, yt: Tensor, xq: Tensor, lengthscale: float) -> tuple[Tensor, Tensor]:
        c = self.config
        return gp_posterior_predictive(xt, yt, xq, noise=c.noise, outputscale=c.outputscale,
                                       lengthscale=lengthscale, jitter=c.jitter)

    @torch.no_grad()
    def _pfn(self, model: nn.Module, xt: Tensor, yt: Tensor, xq: Tensor, yq: Tensor) -> tuple[float, float]:
        nll, se = [], []
        bar: Any = model.bar
        for start in range(0, xq.shape[0], self.config.chunk):
            rows = slice(start, start + self.config.chunk)
            logits = model.predict(xt[rows], yt[rows], xq[rows])  # type: ignore[operator]
            nll.append(bar.nll(logits, yq[rows]).double())
            se.append((bar.mean(logits).double() - yq[rows].double()).pow(2))
        return float(torch.cat(nll).mean()), float(torch.cat(se).mean())

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        c = self.config
        batches = [b for b in (data or []) if isinstance(b, dict) and "x" in b and "y" in b]
        if not batches:
            raise ValueError("gp_posterior_reference needs data: batches of datasets {'x': (B, T, d), 'y': (B, T)}")
        x = torch.cat([b["x"] for b in batches]).float()
        y = torch.cat([b["y"] for b in batches]).float()
        seq_len, q = x.shape[1], c.num_queries
        xq, yq = x[:, seq_len - q :], y[:, seq_len - q :]
        is_pfn = callable(getattr(model, "predict", None)) and getattr(model, "bar", None) is not None
        was_training = model.training
        model.eval()
        numbers: dict[str, float] = {"datasets": float(x.shape[0])}
        rows: list[dict[str, Any]] = []
        for n in c.n_train:
            if n > seq_len - q:
                continue
            xt, yt = x[:, :n], y[:, :n]
            mean, var = self._gp(xt, yt, xq, c.lengthscale)
            row: dict[str, Any] = {"n_train": n,
                                   "nll_gp": float(gaussian_nll(mean, var, yq).mean()),
                                   "mse_gp": float((mean - yq.double()).pow(2).mean()),
                                   "nll_prior": float(gaussian_nll(torch.zeros_like(mean),
                                                                   torch.full_like(var, c.outputscale + c.noise),
                                                                   yq).mean())}
            if c.wrong_lengthscale is not None:
                w_mean, w_var = self._gp(xt, yt, xq, c.wrong_lengthscale)
                row["nll_wrong_ls"] = float(gaussian_nll(w_mean, w_var, yq).mean())
                row["mse_wrong_ls"] = float((w_mean - yq.double()).pow(2).mean())
            if is_pfn:
                row["nll_pfn"], row["mse_pfn"] = self._pfn(model, xt, yt, xq, yq)
                row["gap"] = row["nll_pfn"] - row["nll_gp"]
            rows.append(row)
            numbers.update({f"{k}/n{n}": float(v) for k, v in row.items() if k != "n_train"})
        model.train(was_training)
        figures: dict[str, Any] = {}
        if c.plot and rows:
            figures["nll_curves"] = _plot(rows)
        return Analysis(numbers=numbers, tables={"curves": rows}, figures=figures)


def _plot(rows: list[dict[str, Any]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ns = [r["n_train"] for r in rows]
    for key, label in (("nll_pfn", "PFN"), ("nll_gp", "exact GP"), ("nll_prior", "prior predictive"),
                       ("nll_wrong_ls", "GP, wrong lengthscale")):
        if key in rows[0]:
            ax.plot(ns, [r[key] for r in rows], marker="o", label=label)
    ax.set_xlabel("training points n")
    ax.set_ylabel("mean query NLL (nats)")
    ax.legend()
    fig.tight_layout()
    return fig
