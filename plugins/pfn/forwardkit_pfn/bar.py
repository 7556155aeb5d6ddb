"""The Riemann ("bar") output distribution (paper sec. 4.1 "Riemann distribution"; official ``bar_distribution.py``).

The support is cut by borders b_0 < b_1 < ... < b_M into M buckets of widths w_m = b_{m+1} - b_m. The network gives
M logits, p = softmax(logits), and the density is piecewise constant:

    q(y) = p_m / w_m   for y in bucket m,          NLL(y) = -log p_m + log w_m                       (Riemann NLL)

(the ``+ log w_m`` term is what makes q a density: sum_m (p_m / w_m) w_m = 1). Borders are placed so that each
bucket holds the same number of ys of a large prior sample (``get_bucket_limits``: midpoints between consecutive
quantile samples, outer borders the sample's min and max), or uniformly.

Full support (``FullSupportBarDistribution``): the outer buckets are replaced by half-normal tails anchored at
their inner borders, with scale sigma_m = w_m / HalfNormal(1).icdf(0.5) (half of a tail's mass lies within the
bucket's width): for y in (or left of) bucket 0, q(y) = p_0 HN_{sigma_0}(b_1 - y); for y in (or right of) bucket
M-1, q(y) = p_{M-1} HN_{sigma_{M-1}}(y - b_{M-1}). Every real y then has a finite loss.

:class:`BarDistribution` holds the borders (a buffer) and gives nll, pdf, cdf, mean, quantile and mode;
:class:`BarDistributionTask` is the registered ``bar_distribution`` task: the NLL of the query points as the
training loss, and the query NLL and the squared error of the predictive mean as metrics.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Task
from forwardkit_pfn.config import BarDistributionConfig

__all__ = [
    "BarDistribution",
    "BarDistributionTask",
    "borders_from_sample",
    "halfnormal_scale",
    "prior_borders",
    "query_mask",
    "uniform_borders",
]

#: HalfNormal(1).icdf(0.5) = sqrt(2) erfinv(0.5)
_HN_MEDIAN = math.sqrt(2.0) * float(torch.erfinv(torch.tensor(0.5, dtype=torch.float64)))
_LOG_SQRT_2_OVER_PI = 0.5 * math.log(2.0 / math.pi)


def borders_from_sample(ys: Tensor, num_buckets: int, y_range: tuple[float, float] | None = None) -> Tensor:
    """Equal-count borders ``(M + 1,)`` of a sample ``ys`` (any shape), as official ``get_bucket_limits``: sort,
    drop the ``len % M`` last samples, ``k = len // M`` per bucket, inner borders the midpoints between the k-th and
    (k+1)-th samples of each block, outer borders ``y_range`` or the sample's min and max."""
    flat = ys.flatten().double()
    cut = flat.numel() % num_buckets
    if cut:
        flat = flat[:-cut]
    per = flat.numel() // num_buckets
    if per < 1:
        raise ValueError(f"{flat.numel()} samples cannot place {num_buckets} buckets")
    ordered = flat.sort().values
    inner = (ordered[per - 1 :: per][:-1] + ordered[per::per]) / 2
    low, high = (ordered[0], ordered[-1]) if y_range is None else map(torch.tensor, y_range)
    if y_range is not None and not (y_range[0] <= float(ordered[0]) and float(ordered[-1]) <= y_range[1]):
        raise ValueError(f"y_range {list(y_range)} does not cover the sample [{float(ordered[0])}, "
                         f"{float(ordered[-1])}]")
    borders = torch.cat([torch.as_tensor(low, dtype=torch.float64).view(1), inner,
                         torch.as_tensor(high, dtype=torch.float64).view(1)])
    return borders.float()


def uniform_borders(num_buckets: int, low: float, high: float) -> Tensor:
    """M equal-width buckets between ``low`` and ``high``: ``(M + 1,)``."""
    return torch.linspace(low, high, num_buckets + 1, dtype=torch.float64).float()


def halfnormal_scale(width: Tensor) -> Tensor:
    """sigma = width / HalfNormal(1).icdf(0.5): a half-normal tail with half its mass within ``width``."""
    return width / _HN_MEDIAN


@functools.lru_cache(maxsize=16)
def _cached_borders(prior_json: str, num_buckets: int, sample_size: int, mode: str,
                    y_range: tuple[float, float] | None, seed: int) -> Tensor:
    import forwardkit

    spec = json.loads(prior_json)
    name = spec.pop("name")
    prior = forwardkit.create("dataset", name, spec)
    if y_range is not None and mode == "uniform":
        return uniform_borders(num_buckets, *y_range)
    seq_len = int(prior.config.seq_len)
    n_sets = -(-sample_size // seq_len)
    ys = prior.draw(n_sets, generator=torch.Generator().manual_seed(seed))["y"].flatten()[:sample_size]
    if mode == "uniform":
        return uniform_borders(num_buckets, float(ys.min()), float(ys.max()))
    return borders_from_sample(ys, num_buckets, y_range)


def prior_borders(config: BarDistributionConfig) -> Tensor:
    """The borders ``(M + 1,)`` a bar distribution config asks for: from ``prior_sample_size`` ys of ``prior``
    (drawn with ``prior_seed``; cached per config) or uniform."""
    prior = dict(config.prior) if config.prior is not None else {"name": "gp_prior"}
    y_range = tuple(config.y_range) if config.y_range is not None else None
    return _cached_borders(json.dumps(prior, sort_keys=True), config.num_buckets, config.prior_sample_size,
                           config.borders, y_range, config.prior_seed).clone()  # type: ignore[arg-type]


class BarDistribution(nn.Module):
    """A bar distribution over ``borders`` ``(M + 1,)`` (a buffer, so a model holding one saves it); every method
    takes ``logits`` ``(..., M)`` and, where it has one, ``y`` ``(...)``."""

    borders: Tensor
    support: Tensor

    def __init__(self, borders: Tensor, *, full_support: bool = True) -> None:
        super().__init__()
        borders = torch.as_tensor(borders, dtype=torch.float32).flatten()
        if borders.numel() < 3 or not bool((borders[1:] > borders[:-1]).all()):
            raise ValueError("borders must be strictly increasing with at least 2 buckets (3 borders)")
        self.register_buffer("borders", borders.clone())
        self.register_buffer("support", torch.tensor(bool(full_support)))

    @property
    def full_support(self) -> bool:
        """Half-normal tails replace the outer buckets (a buffer, so a checkpoint keeps it)."""
        return bool(self.support)

    @property
    def num_buckets(self) -> int:
        return self.borders.numel() - 1

    @property
    def widths(self) -> Tensor:
        """w_m = b_{m+1} - b_m, ``(M,)``."""
        return self.borders[1:] - self.borders[:-1]

    def set_borders(self, borders: Tensor, *, full_support: bool | None = None) -> None:
        """Replace the borders (same number of buckets) and, optionally, the tails."""
        borders = torch.as_tensor(borders, dtype=self.borders.dtype, device=self.borders.device).flatten()
        if borders.shape != self.borders.shape:
            raise ValueError(f"the new borders have {borders.numel() - 1} buckets, this distribution "
                             f"{self.num_buckets}")
        self.borders.copy_(borders)
        if full_support is not None:
            self.support.fill_(bool(full_support))

    def _tail_scales(self) -> tuple[Tensor, Tensor]:
        w = self.widths
        return halfnormal_scale(w[0]), halfnormal_scale(w[-1])

    def _check(self, logits: Tensor) -> None:
        if logits.shape[-1] != self.num_buckets:
            raise ForwardkitError(f"the logits have {logits.shape[-1]} entries per point but the bar distribution "
                                  f"has {self.num_buckets} buckets: set the model's num_buckets to "
                                  f"{self.num_buckets}")

    def bucket_index(self, y: Tensor) -> Tensor:
        """The bucket of each y: ``searchsorted(borders, y) - 1``, with y = b_0 in bucket 0 and y = b_M in bucket
        M - 1; outside [b_0, b_M]: -1 / M (full support: clamped to the tail buckets)."""
        b = self.borders.to(y.dtype)
        idx = torch.searchsorted(b, y.contiguous()) - 1
        idx = torch.where(y == b[0], torch.zeros_like(idx), idx)
        idx = torch.where(y == b[-1], torch.full_like(idx, self.num_buckets - 1), idx)
        if self.full_support:
            idx = idx.clamp(0, self.num_buckets - 1)
        return idx

    def log_density(self, logits: Tensor, y: Tensor) -> Tensor:
        """log q(y) ``(...)``: log p_m - log w_m inside bucket m; the half-normal tails with full support; -inf
        outside [b_0, b_M] without it."""
        self._check(logits)
        y = y.to(logits.dtype)
        idx = self.bucket_index(y)
        inside = (idx >= 0) & (idx < self.num_buckets)
        safe = idx.clamp(0, self.num_buckets - 1)
        log_p = torch.log_softmax(logits, -1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
        widths = self.widths.to(logits.dtype)
        out = log_p - torch.log(widths)[safe]
        if self.full_support:
            b = self.borders.to(logits.dtype)
            s0, s1 = (s.to(logits.dtype) for s in self._tail_scales())
            left = (b[1] - y).clamp(min=1e-8)
            right = (y - b[-2]).clamp(min=1e-8)
            hn_left = _LOG_SQRT_2_OVER_PI - torch.log(s0) - 0.5 * (left / s0) ** 2
            hn_right = _LOG_SQRT_2_OVER_PI - torch.log(s1) - 0.5 * (right / s1) ** 2
            out = torch.where(safe == 0, log_p + hn_left, out)
            out = torch.where(safe == self.num_buckets - 1, log_p + hn_right, out)
            return out
        return torch.where(inside, out, torch.full_like(out, float("-inf")))

    def nll(self, logits: Tensor, y: Tensor) -> Tensor:
        """-log q(y) per point ``(...)`` (the loss, bucket-width term included)."""
        return -self.log_density(logits, y)

    def pdf(self, logits: Tensor, y: Tensor) -> Tensor:
        """q(y) ``(...)``."""
        return self.log_density(logits, y).exp()

    def bucket_means(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """E[y | bucket m] ``(M,)``: the centres; with full support the tails' means b_1 - sigma_0 sqrt(2/pi) and
        b_{M-1} + sigma_{M-1} sqrt(2/pi)."""
        b = self.borders.to(dtype)
        means = b[:-1] + self.widths.to(dtype) / 2
        if self.full_support:
            s0, s1 = (s.to(dtype) for s in self._tail_scales())
            root = math.sqrt(2.0 / math.pi)
            means = torch.cat([(b[1] - s0 * root).view(1), means[1:-1], (b[-2] + s1 * root).view(1)])
        return means

    def mean(self, logits: Tensor) -> Tensor:
        """E[y] = sum_m p_m E[y | bucket m] ``(...)``."""
        self._check(logits)
        return torch.softmax(logits, -1) @ self.bucket_means(logits.dtype)

    def cdf(self, logits: Tensor, y: Tensor) -> Tensor:
        """P(Y <= y) ``(...)``."""
        self._check(logits)
        y = y.to(logits.dtype)
        p = torch.softmax(logits, -1)
        before = torch.cumsum(p, -1) - p  # mass of the buckets left of m
        b = self.borders.to(logits.dtype)
        idx = self.bucket_index(y)
        safe = idx.clamp(0, self.num_buckets - 1)
        p_m = p.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
        c_m = before.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
        frac = ((y - b[safe]) / self.widths.to(logits.dtype)[safe]).clamp(0.0, 1.0)
        out = c_m + p_m * frac
        if self.full_support:
            s0, s1 = (s.to(logits.dtype) for s in self._tail_scales())
            p0, p_last = p[..., 0], p[..., -1]
            left = p0 * (1 - torch.erf((b[1] - y).clamp(min=0) / (s0 * math.sqrt(2))))
            right = 1 - p_last * (1 - torch.erf((y - b[-2]).clamp(min=0) / (s1 * math.sqrt(2))))
            out = torch.where(safe == 0, left, out)
            out = torch.where(safe == self.num_buckets - 1, right, out)
            return out
        out = torch.where(idx < 0, torch.zeros_like(out), out)
        return torch.where(idx >= self.num_buckets, torch.ones_like(out), out)

    def quantile(self, logits: Tensor, q: float | Tensor) -> Tensor:
        """The q-quantile ``(...)`` (q in (0, 1), a float or a tensor broadcasting to ``logits.shape[:-1]``): the
        inverse of :meth:`cdf`, linear inside a bucket, the half-normal's inverse in the tails."""
        self._check(logits)
        p = torch.softmax(logits, -1)
        q_t = torch.as_tensor(q, dtype=logits.dtype, device=logits.device).expand(p.shape[:-1]).contiguous()
        cum = torch.cumsum(p, -1)
        idx = torch.searchsorted(cum.contiguous(), q_t.unsqueeze(-1)).squeeze(-1).clamp(0, self.num_buckets - 1)
        p_m = p.gather(-1, idx.unsqueeze(-1)).squeeze(-1).clamp(min=1e-30)
        c_before = (cum - p).gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        b = self.borders.to(logits.dtype)
        w = self.widths.to(logits.dtype)
        out = b[idx] + w[idx] * ((q_t - c_before) / p_m).clamp(0.0, 1.0)
        if self.full_support:
            s0, s1 = (s.to(logits.dtype) for s in self._tail_scales())
            r_left = (1 - q_t / p[..., 0].clamp(min=1e-30)).clamp(0.0, 1 - 1e-7)
            r_right = ((q_t - (cum[..., -1] - p[..., -1])) / p[..., -1].clamp(min=1e-30)).clamp(0.0, 1 - 1e-7)
            left = b[1] - s0 * math.sqrt(2) * torch.erfinv(r_left)
            right = b[-2] + s1 * math.sqrt(2) * torch.erfinv(r_right)
            out = torch.where(idx == 0, left, out)
            out = torch.where(idx == self.num_buckets - 1, right, out)
        return out

    def mode(self, logits: Tensor) -> Tensor:
        """The y of highest density ``(...)``: the centre of the bucket with the largest p_m / w_m (with full
        support a tail's peak, p sqrt(2/pi) / sigma, is at its inner border)."""
        self._check(logits)
        log_p = torch.log_softmax(logits, -1)
        w = self.widths.to(logits.dtype)
        b = self.borders.to(logits.dtype)
        heights = log_p - torch.log(w)
        where = b[:-1] + w / 2
        if self.full_support:
            s0, s1 = (s.to(logits.dtype) for s in self._tail_scales())
            shift = torch.zeros_like(w)
            shift[0] = _LOG_SQRT_2_OVER_PI - torch.log(s0) + torch.log(w[0])
            shift[-1] = _LOG_SQRT_2_OVER_PI - torch.log(s1) + torch.log(w[-1])
            heights = heights + shift
            where = torch.cat([b[1].view(1), where[1:-1], b[-2].view(1)])
        return where[heights.argmax(-1)]

    def extra_repr(self) -> str:
        return (f"num_buckets={self.num_buckets}, range=[{float(self.borders[0]):.4g}, {float(self.borders[-1]):.4g}]"
                f", full_support={self.full_support}")


def query_mask(batch: Mapping[str, Tensor], seq_len: int) -> Tensor:
    """``(B, T)`` True at the query positions (t >= eval_pos of the row's dataset)."""
    if "eval_pos" not in batch:
        raise ForwardkitError("the batch has no 'eval_pos' (the number of training points of each dataset): draw "
                              "it from a prior dataset (gp_prior, bnn_prior) or train with prior_fitting_rule")
    s = torch.as_tensor(batch["eval_pos"]).reshape(-1, 1)
    return torch.arange(seq_len, device=s.device).view(1, -1) >= s


class BarDistributionTask(Task):
    """``bar_distribution``: the Riemann distribution as a task. ``loss``: mean NLL over the query points of the
    batch (the PFN objective, eq. 2 with the Riemann NLL); metrics ``nll`` (per query point) and ``mse`` (of the
    predictive mean). ``output``: logits ``(B, T, M)``; ``batch``: ``y`` ``(B, T)`` and ``eval_pos`` ``(B,)``."""

    Config = BarDistributionConfig
    config: BarDistributionConfig
    primary_metric: ClassVar[str] = "nll"
    mode: ClassVar[Literal["max", "min"]] = "min"
    target_keys: ClassVar[tuple[str, ...]] = ("y",)

    def __init__(self, config: BarDistributionConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.bar = BarDistribution(prior_borders(self.config), full_support=self.config.full_support)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        prior = getattr(metadata, "extra", {}).get("prior")
        return {"prior": dict(prior)} if isinstance(prior, Mapping) else {}

    @property
    def borders(self) -> Tensor:
        return self.bar.borders

    def _nll(self, output: Tensor, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        y = batch["y"]
        if output.dim() != y.dim() + 1 or output.shape[:-1] != y.shape:
            raise ForwardkitError(f"bar_distribution: the model output {tuple(output.shape)} must be y's shape "
                                  f"{tuple(y.shape)} plus one axis of {self.bar.num_buckets} logits")
        return self.bar.nll(output, y), query_mask(batch, y.shape[-1]).to(output.device)

    def loss(self, output: Any, batch: Mapping[str, Tensor]) -> Tensor:
        nll, queries = self._nll(output, batch)
        return (nll * queries).sum() / queries.sum().clamp(min=1)

    def metrics(self, output: Any, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        nll, queries = self._nll(output, batch)
        count = int(queries.sum())
        if count == 0:
            return {}
        err = (self.bar.mean(output) - batch["y"].to(output.dtype)).pow(2)
        return {"nll": (float((nll * queries).sum()), count), "mse": (float((err * queries).sum()), count)}

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Any,
                                                                                                 dict[str, Tensor]]:
        g = generator or torch.Generator().manual_seed(0)
        t = 6
        logits = torch.randn(batch_size, t, self.bar.num_buckets, generator=g)
        y = torch.randn(batch_size, t, generator=g)
        eval_pos = torch.randint(0, t - 1, (batch_size,), generator=g)
        return logits, {"y": y, "eval_pos": eval_pos}
