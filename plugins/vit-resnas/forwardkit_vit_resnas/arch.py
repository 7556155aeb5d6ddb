"""Sub-network architectures and the search space of a super-network (paper: weight-sharing NAS; torch-free).

A sub-network (:class:`Arch`) keeps, per stage, a prefix of the embedding channels, and per block a prefix
of the attention heads (width = heads x head_dim), a prefix of the MLP hidden units, and whether the block
is kept. :class:`SearchSpace` lists the choices (*genes*) of a
:class:`~forwardkit_vit_resnas.config.ViTResSuperNetConfig` and draws architectures from them:

* for training (:meth:`SearchSpace.sample_balanced`): each gene cycles through its allowed options, shuffled,
  as the official ``ChannelDrop.set_mask`` / ``forward_mask`` do, so every option is trained equally often;
* for the search (:meth:`SearchSpace.random_in_window`, :meth:`mutate`, :meth:`crossover`): the official
  ``gen_random_network_def`` / ``mutate_network_def`` / ``crossover_network_def``, every candidate redrawn until
  its MACs lie in the window ``[lower_bound * budget, budget]``.

The width warm-up (multi-architectural sampling) is :func:`allowed_options`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from forwardkit_vit_resnas.config import ViTResConfig, ViTResSuperNetConfig

GeneKind = Literal["embed", "attn", "mlp", "keep"]


@dataclass(frozen=True)
class Arch:
    """One sub-network: ``embed[s]`` channels of stage s; ``attn[s][i]``, ``mlp[s][i]`` and ``keep[s][i]`` of
    block i of stage s (attention width = heads x head_dim, MLP hidden width, block kept)."""

    embed: tuple[int, ...]
    attn: tuple[tuple[int, ...], ...]
    mlp: tuple[tuple[int, ...], ...]
    keep: tuple[tuple[bool, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON, checkpoints)."""
        return {"embed": list(self.embed), "attn": [list(a) for a in self.attn], "mlp": [list(m) for m in self.mlp],
                "keep": [list(k) for k in self.keep]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Arch:
        return cls(embed=tuple(int(e) for e in data["embed"]),
                   attn=tuple(tuple(int(a) for a in s) for s in data["attn"]),
                   mlp=tuple(tuple(int(m) for m in s) for s in data["mlp"]),
                   keep=tuple(tuple(bool(k) for k in s) for s in data["keep"]))

    def depths(self) -> list[int]:
        """Kept blocks per stage."""
        return [sum(k) for k in self.keep]


@dataclass(frozen=True)
class Gene:
    """One choice of the search space: its kind, stage, block (-1 for an embedding width) and options
    (largest first; duplicates weight an option, as the official ``[C, C, 0, 0]`` of a skippable block)."""

    kind: GeneKind
    stage: int
    block: int
    options: tuple[Any, ...]


def allowed_options(epoch: int, num_options: int, warmup_epochs: int) -> int:
    """Width warm-up (official ``ChannelDrop.set_mask``): at epoch ``t`` (0-based) only the largest
    ``min(1 + floor(t (K - 1) / W), K)`` of the ``K`` options are sampled; ``W = 0``: all ``K``."""
    if warmup_epochs == 0:
        return num_options
    return max(1, min(1 + math.floor(epoch * (num_options - 1) / warmup_epochs), num_options))


class SearchSpace:
    """The genes of a super-network config, and the ways architectures are drawn from them."""

    def __init__(self, config: ViTResSuperNetConfig) -> None:
        self.config = config
        genes: list[Gene] = [Gene("embed", s, -1, tuple(c)) for s, c in enumerate(config.embed_choices)]
        for s, depth in enumerate(config.depths):
            for i in range(depth):
                genes.append(Gene("attn", s, i, tuple(config.attn_choices[s])))
                genes.append(Gene("mlp", s, i, tuple(config.mlp_choices[s])))
                if config.skippable(i):
                    genes.append(Gene("keep", s, i, tuple(config.layer_keep_options)))
        self.genes = genes

    # ---- encoding -------------------------------------------------------------------------------------
    def decode(self, values: Sequence[Any]) -> Arch:
        """The Arch of one value per gene (in :attr:`genes` order); blocks without a keep gene are kept."""
        cfg = self.config
        embed = [0] * len(cfg.depths)
        attn = [[0] * d for d in cfg.depths]
        mlp = [[0] * d for d in cfg.depths]
        keep = [[True] * d for d in cfg.depths]
        for gene, value in zip(self.genes, values, strict=True):
            if gene.kind == "embed":
                embed[gene.stage] = int(value)
            elif gene.kind == "attn":
                attn[gene.stage][gene.block] = int(value)
            elif gene.kind == "mlp":
                mlp[gene.stage][gene.block] = int(value)
            else:
                keep[gene.stage][gene.block] = bool(value)
        return Arch(tuple(embed), tuple(map(tuple, attn)), tuple(map(tuple, mlp)), tuple(map(tuple, keep)))

    def encode(self, arch: Arch) -> list[Any]:
        """One value per gene."""
        out: list[Any] = []
        for gene in self.genes:
            if gene.kind == "embed":
                out.append(arch.embed[gene.stage])
            else:
                out.append(getattr(arch, gene.kind)[gene.stage][gene.block])
        return out

    def largest(self) -> Arch:
        return self.decode([g.options[0] for g in self.genes])

    def smallest(self) -> Arch:
        return self.decode([g.options[-1] for g in self.genes])

    def contains(self, arch: Arch) -> bool:
        try:
            values = self.encode(arch)
        except (IndexError, TypeError):
            return False
        shapes = ([len(a) for a in arch.attn], [len(m) for m in arch.mlp], [len(k) for k in arch.keep])
        if any(list(s) != list(self.config.depths) for s in shapes) or len(arch.embed) != len(self.config.depths):
            return False
        kept = all(k or self.config.skippable(i) for s in arch.keep for i, k in enumerate(s))
        return kept and all(v in g.options for g, v in zip(self.genes, values, strict=True))

    # ---- training: balanced sampling (multi-architectural sampling) ------------------------------------------
    def sample_balanced(self, n: int, allowed: Callable[[Gene], int],
                        permutation: Callable[[int], list[int]]) -> list[Arch]:
        """``n`` architectures for one batch: for every gene independently, its first ``allowed(gene)`` options
        repeated cyclically to at least ``n`` entries, shuffled by ``permutation(len)`` and cut to ``n``
        (official ``ChannelDrop``: each option gets the same share of the batch's sub-networks)."""
        columns = []
        for gene in self.genes:
            k = allowed(gene)
            cycle = [gene.options[j % k] for j in range(k * math.ceil(n / k))]
            order = permutation(len(cycle))
            columns.append([cycle[j] for j in order[:n]])
        return [self.decode([col[r] for col in columns]) for r in range(n)]

    # ---- evolutionary search --------------------------------------------------------------------------------
    def random(self, rng: np.random.Generator) -> Arch:
        """Every gene drawn uniformly from its options."""
        return self.decode([g.options[int(rng.integers(len(g.options)))] for g in self.genes])

    def random_in_window(self, rng: np.random.Generator, macs: Callable[[Arch], float], low: float, high: float,
                         max_tries: int) -> Arch:
        """The official ``gen_random_network_def``: embedding widths and kept blocks drawn uniformly (attention
        and MLP at their largest) until MACs >= ``low``; then one random attention or MLP gene at a time steps
        down to its next smaller option until MACs <= ``high``; redrawn until ``low <= MACs <= high``."""
        for _ in range(max_tries):
            values = [g.options[int(rng.integers(len(g.options)))] if g.kind in ("embed", "keep") else g.options[0]
                      for g in self.genes]
            if macs(self.decode(values)) < low:
                continue
            shrinkable = [j for j, g in enumerate(self.genes) if g.kind in ("attn", "mlp")]
            while macs(self.decode(values)) > high and shrinkable:
                j = shrinkable[int(rng.integers(len(shrinkable)))]
                smaller = [o for o in self.genes[j].options if o < values[j]]
                if smaller:
                    values[j] = smaller[0]
                else:
                    shrinkable.remove(j)
            arch = self.decode(values)
            if low <= macs(arch) <= high:
                return arch
        raise RuntimeError(f"no sub-network with {low:.4g} <= MACs <= {high:.4g} found in {max_tries} draws; widen "
                           "the window (lower_bound) or change the budget")

    def mutate(self, arch: Arch, prob: float, rng: np.random.Generator) -> Arch:
        """Official ``mutate_func``: each gene redrawn uniformly with probability ``prob`` (a keep gene flips)."""
        values = self.encode(arch)
        for j, gene in enumerate(self.genes):
            if rng.random() <= prob:
                if gene.kind == "keep":
                    values[j] = not values[j]
                else:
                    values[j] = gene.options[int(rng.integers(len(gene.options)))]
        return self.decode(values)

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Official ``crossover_func``: each gene from ``b`` with probability 1/2, else from ``a``."""
        return self.decode([y if rng.random() <= 0.5 else x
                            for x, y in zip(self.encode(a), self.encode(b), strict=True)])


def subnet_config(config: ViTResSuperNetConfig, arch: Arch, **overrides: Any) -> ViTResConfig:
    """The stand-alone :class:`~forwardkit_vit_resnas.config.ViTResConfig` of sub-network ``arch`` of a super-network
    (skipped blocks removed, per-block heads and MLP widths): what ``ViTResSuperNet.extract(arch)`` builds."""
    heads = [[a // config.head_dims[s] for a, k in zip(arch.attn[s], arch.keep[s], strict=True) if k]
             for s in range(len(config.depths))]
    mlp = [[m for m, k in zip(arch.mlp[s], arch.keep[s], strict=True) if k] for s in range(len(config.depths))]
    fields: dict[str, Any] = {
        "img_size": config.img_size, "in_channels": config.in_channels, "num_classes": config.num_classes,
        "patch": config.patch, "stem": config.stem, "stem_mid": config.stem_mid, "residual_sr": config.residual_sr,
        "sr_kernel": config.sr_kernel, "new_pos_embed": config.new_pos_embed, "num_cls_tokens": config.num_cls_tokens,
        "drop_path": config.drop_path, "norm_eps": config.norm_eps, "dims": list(arch.embed),
        "depths": [len(h) for h in heads], "heads": [max(h, default=1) for h in heads],
        "head_dims": list(config.head_dims), "block_heads": heads, "block_mlp": mlp,
    }
    fields.update(overrides)
    return ViTResConfig.model_validate(fields)
