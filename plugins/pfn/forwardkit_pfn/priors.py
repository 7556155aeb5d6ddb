"""Prior samplers as datasets (paper sec. 3-4; official ``priors/fast_gp.py`` and ``priors/mlp.py``).

A PFN is trained on datasets D = {(x_i, y_i)}_{i=1..T} drawn from a prior p(D) = E_{phi ~ p(phi)} [prod_i
p(x_i) p(y_i | x_i, phi)] (eq. 1's expectation). Two priors:

* ``gp_prior``: x ~ U[0, 1]^d, f ~ GP(0, s_f^2 k_l), k_l(x, x') = exp(-|x - x'|^2 / (2 l^2)) (gpytorch's RBF),
  y = f(x) + N(0, s_n^2): y ~ N(0, s_f^2 K_l + s_n^2 I). Drawn as y = L z + s_n e with L L^T = s_f^2 K_l + jitter I
  (batched ``torch.linalg.cholesky`` on (B, T, T), float64);
* ``bnn_prior``: per dataset a fresh MLP with Gaussian weights, y = MLP(x) + N(0, noise_std^2).

Both are *vectorised* (:func:`sample_gp_prior` / :func:`sample_bnn_prior` draw a batch of B datasets from one
generator with batched linear algebra) and *seedable per item*: item i of a split draws its raw noise from its own
generator seeded with (seed, split, i), then every item of a batch goes through the same batched transform
(:func:`gp_from_noise`, :func:`bnn_from_noise`), so a dataset is the same whatever batch it is fetched in.
Splits are lazy (``__getitems__`` builds a whole batch at once), so a train split of 160,000 datasets costs nothing
until it is read.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.utils.data import Dataset as TorchDataset

from forwardkit.interfaces import Dataset, DatasetMetadata
from forwardkit_pfn.config import BNNPriorConfig, GPPriorConfig

__all__ = [
    "BNNPrior",
    "GPPrior",
    "PriorSplit",
    "bnn_from_noise",
    "gp_from_noise",
    "item_generator",
    "rbf_kernel",
    "sample_bnn_prior",
    "sample_gp_prior",
]

_SPLIT_CODE = {"train": 1, "val": 2, "test": 3}


def item_generator(seed: int, split: str, index: int) -> torch.Generator:
    """The generator of item ``index`` of ``split``: a function of (seed, split, index) only."""
    key = ((seed * 1_000_003 + _SPLIT_CODE.get(split, 9)) * 4_294_967_311 + index) % (2**63 - 1)
    return torch.Generator().manual_seed(key)


# ---- GP prior ------------------------------------------------------------------------------------------------------
def rbf_kernel(a: Tensor, b: Tensor, lengthscale: Tensor | float) -> Tensor:
    """k_l(a, b) = exp(-|a - b|^2 / (2 l^2)) for ``a`` (..., N, d), ``b`` (..., M, d) -> (..., N, M); ``lengthscale``
    a float or a tensor broadcasting to (..., 1, 1)."""
    sq = (a.unsqueeze(-2) - b.unsqueeze(-3)).pow(2).sum(-1)
    return torch.exp(-0.5 * sq / torch.as_tensor(lengthscale, dtype=a.dtype) ** 2)


def _log_uniform(u: Tensor, low: float, high: float | None) -> Tensor:
    """low * (high / low)^u for u in [0, 1] (the constant ``low`` when ``high`` is None)."""
    if high is None:
        return torch.full_like(u, low)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def gp_from_noise(x: Tensor, z: Tensor, e: Tensor, u: Tensor, config: GPPriorConfig) -> Tensor:
    """The GP prior's y for raw draws: ``x`` (B, T, d) in [0, 1], ``z``, ``e`` (B, T) standard normal, ``u`` (B, 2)
    uniform (hyper-prior draws). y = L z + s_n e with L = chol(s_f^2 K_l(x, x) + jitter I). Returns y (B, T),
    float64."""
    c = config
    x64 = x.double()
    length = _log_uniform(u[:, 0].double(), c.lengthscale, c.lengthscale_max).view(-1, 1, 1)
    scale = _log_uniform(u[:, 1].double(), c.outputscale, c.outputscale_max).view(-1, 1, 1)
    cov = scale * rbf_kernel(x64, x64, length)
    cov = cov + c.jitter * torch.eye(x.shape[1], dtype=torch.float64)
    chol = torch.linalg.cholesky(cov)
    f = (chol @ z.double().unsqueeze(-1)).squeeze(-1)
    return f + math.sqrt(c.noise) * e.double()


def _gp_raw(config: GPPriorConfig, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    t, d = config.seq_len, config.num_features
    x = torch.rand(n, t, d, generator=generator, dtype=torch.float64)
    z = torch.randn(n, t, generator=generator, dtype=torch.float64)
    e = torch.randn(n, t, generator=generator, dtype=torch.float64)
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    return x, z, e, u


def sample_gp_prior(n_datasets: int, config: GPPriorConfig | None = None, *,
                    generator: torch.Generator | None = None, **overrides: Any) -> dict[str, Tensor]:
    """A batch of ``n_datasets`` datasets from the GP prior: ``{"x": (B, T, d), "y": (B, T)}`` (float32); one
    generator for the whole batch (the functional form of ``gp_prior``)."""
    c = config or GPPriorConfig(**overrides)
    x, z, e, u = _gp_raw(c, n_datasets, generator or torch.Generator().manual_seed(c.seed))
    return {"x": x.float(), "y": gp_from_noise(x, z, e, u, c).float()}


# ---- BNN prior -----------------------------------------------------------------------------------------------------
_ACTS = {"tanh": torch.tanh, "relu": torch.relu, "gelu": torch.nn.functional.gelu}


def _bnn_shapes(c: BNNPriorConfig) -> list[tuple[int, int]]:
    widths = [c.num_features] + [c.hidden_dim] * c.num_layers + [1]
    return list(itertools.pairwise(widths))


def _bnn_raw(c: BNNPriorConfig, n: int, generator: torch.Generator) -> tuple[Tensor, list[Tensor], list[Tensor],
                                                                             Tensor]:
    x = torch.rand(n, c.seq_len, c.num_features, generator=generator, dtype=torch.float64)
    weights, biases = [], []
    for fan_in, fan_out in _bnn_shapes(c):
        weights.append(torch.randn(n, fan_in, fan_out, generator=generator, dtype=torch.float64))
        biases.append(torch.randn(n, 1, fan_out, generator=generator, dtype=torch.float64))
    e = torch.randn(n, c.seq_len, generator=generator, dtype=torch.float64)
    return x, weights, biases, e


def bnn_from_noise(x: Tensor, weights: Sequence[Tensor], biases: Sequence[Tensor], e: Tensor,
                   config: BNNPriorConfig) -> Tensor:
    """The BNN prior's y for raw standard-normal weights ``weights[l]`` (B, fan_in, fan_out), ``biases[l]``
    (B, 1, fan_out) and noise ``e`` (B, T), inputs ``x`` (B, T, d): h_0 = x, h_l = act(h_{l-1} (s_w / sqrt(fan_in))
    W_l + s_b b_l), y = h_L (last layer linear) + noise_std e. Returns (B, T), float64."""
    c = config
    act = _ACTS[c.activation]
    h = x.double()
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = torch.bmm(h, w * (c.weight_std / math.sqrt(w.shape[1]))) + c.bias_std * b
        if i < last:
            h = act(h)
    return h.squeeze(-1) + c.noise_std * e


def sample_bnn_prior(n_datasets: int, config: BNNPriorConfig | None = None, *,
                     generator: torch.Generator | None = None, **overrides: Any) -> dict[str, Tensor]:
    """A batch of ``n_datasets`` datasets from the BNN prior: ``{"x": (B, T, d), "y": (B, T)}`` (float32)."""
    c = config or BNNPriorConfig(**overrides)
    x, w, b, e = _bnn_raw(c, n_datasets, generator or torch.Generator().manual_seed(c.seed))
    return {"x": x.float(), "y": bnn_from_noise(x, w, b, e, c).float()}


# ---- datasets ------------------------------------------------------------------------------------------------------
class PriorSplit(TorchDataset):  # type: ignore[type-arg]
    """One split of a prior: ``size`` datasets, item i = ``{"x": (T, d), "y": (T,), "eval_pos": ()}`` generated
    from :func:`item_generator` (seed, split, i); a batch of items is transformed at once (``__getitems__``)."""

    def __init__(self, prior: _Prior, split: str, size: int) -> None:
        self.prior, self.split, self.size = prior, split, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Tensor]]:
        if not indices:
            return []
        for i in indices:
            if not 0 <= int(i) < self.size:
                raise IndexError(f"item {i} of split {self.split!r} (size {self.size})")
        gens = [item_generator(self.prior.config.seed, self.split, int(i)) for i in indices]
        batch = self.prior.from_generators(gens)
        eval_pos = torch.stack([torch.randint(0, self.prior.config.max_train_points + 1, (), generator=g)
                                for g in gens])
        return [{"x": batch["x"][j], "y": batch["y"][j], "eval_pos": eval_pos[j]} for j in range(len(indices))]


class _Prior(Dataset):
    """Shared part of the prior datasets: lazy splits, metadata naming the ``bar_distribution`` task."""

    prior_name: ClassVar[str] = ""
    config: Any

    @property
    def metadata(self) -> DatasetMetadata:
        c = self.config
        return DatasetMetadata(
            task="bar_distribution",
            input_shape=(c.seq_len, c.num_features),
            target_shape=(c.seq_len,),
            sizes={"train": c.n_train_datasets, "val": c.n_val_datasets, "test": c.n_test_datasets},
            extra={"prior": {"name": self.prior_name, **c.model_dump(mode="json")}, "seq_len": c.seq_len,
                   "max_train_points": c.max_train_points, "item": "one dataset of seq_len points; eval_pos = its "
                   "number of training points (the rest are queries)"},
        )

    def split(self, name: str) -> PriorSplit:
        sizes = self.metadata.sizes
        if name not in sizes:
            raise ValueError(f"unknown split {name!r}; allowed: {', '.join(sizes)}")
        return PriorSplit(self, name, sizes[name])

    def from_generators(self, generators: Sequence[torch.Generator]) -> dict[str, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def draw(self, n_datasets: int, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """A batch of ``n_datasets`` fresh datasets from one generator (default: seeded with the config's seed):
        ``{"x": (B, T, d), "y": (B, T)}``."""
        raise NotImplementedError  # pragma: no cover


class GPPrior(_Prior):
    """``gp_prior``: datasets from a GP prior with an RBF kernel (``priors/fast_gp.py``), see the module docstring."""

    Config = GPPriorConfig
    config: GPPriorConfig
    prior_name = "gp_prior"

    def from_generators(self, generators: Sequence[torch.Generator]) -> dict[str, Tensor]:
        raws = [_gp_raw(self.config, 1, g) for g in generators]
        x, z, e, u = (torch.cat(parts) for parts in zip(*raws, strict=True))
        return {"x": x.float(), "y": gp_from_noise(x, z, e, u, self.config).float()}

    def draw(self, n_datasets: int, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return sample_gp_prior(n_datasets, self.config, generator=generator)


class BNNPrior(_Prior):
    """``bnn_prior``: datasets from random Gaussian-weight MLPs plus noise, see the module docstring."""

    Config = BNNPriorConfig
    config: BNNPriorConfig
    prior_name = "bnn_prior"

    def from_generators(self, generators: Sequence[torch.Generator]) -> dict[str, Tensor]:
        raws = [_bnn_raw(self.config, 1, g) for g in generators]
        x = torch.cat([r[0] for r in raws])
        layers = len(raws[0][1])
        w = [torch.cat([r[1][k] for r in raws]) for k in range(layers)]
        b = [torch.cat([r[2][k] for r in raws]) for k in range(layers)]
        e = torch.cat([r[3] for r in raws])
        return {"x": x.float(), "y": bnn_from_noise(x, w, b, e, self.config).float()}

    def draw(self, n_datasets: int, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return sample_bnn_prior(n_datasets, self.config, generator=generator)
