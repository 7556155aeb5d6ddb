"""``sbm_graph``: one offline graph for transductive node classification (SBM or Zachary's karate club).

Every split is a dataset of one item, the whole graph: ``x`` ``(N, F)``, ``edge_index`` ``(2, E)``
(both directions of every undirected edge), ``y`` ``(N,)``, ``train_mask`` / ``val_mask`` ``(N,)`` and
``mask`` ``(N,)``, the split's own nodes (what the task scores). Nothing downloads: the SBM is generated
from the config's seed; the karate club ships with networkx.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from forwardkit.data import InMemoryDataset, TensorSplit, stratified_split
from forwardkit_forwardgnn.config import SBMGraphConfig


def stochastic_block_model(block_sizes: list[int], p_in: float, p_out: float, generator: torch.Generator) -> Tensor:
    """Undirected SBM edges ``(2, 2E)`` (both directions, no self-loops): each pair of nodes is joined with
    probability ``p_in`` inside a block and ``p_out`` across blocks."""
    n = sum(block_sizes)
    block = torch.repeat_interleave(torch.arange(len(block_sizes)), torch.tensor(block_sizes))
    prob = torch.where(block[:, None] == block[None, :], p_in, p_out)
    draw = torch.rand(n, n, generator=generator) < prob
    upper = torch.triu(draw, diagonal=1)
    src, dst = upper.nonzero(as_tuple=True)
    return torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)


def sbm_features(labels: Tensor, dim: int, signal: float, generator: torch.Generator) -> Tensor:
    """Class-conditional Gaussian features ``(N, F)``: ``mu_y + eps``, class means of norm ``signal``."""
    classes = int(labels.max()) + 1
    means = torch.randn(classes, dim, generator=generator)
    means = signal * means / means.norm(dim=-1, keepdim=True)
    return means[labels] + torch.randn(labels.shape[0], dim, generator=generator)


def karate_club() -> tuple[Tensor, Tensor, Tensor, list[str]]:
    """Zachary's karate club from networkx: one-hot node features ``(34, 34)``, edges, the club labels."""
    import networkx as nx

    g = nx.karate_club_graph()
    names = sorted({g.nodes[v]["club"] for v in g.nodes})
    y = torch.tensor([names.index(g.nodes[v]["club"]) for v in sorted(g.nodes)])
    src, dst = zip(*g.edges(), strict=True)
    und = torch.tensor([src, dst])
    edge_index = torch.cat([und, und.flip(0)], dim=1)
    return torch.eye(len(y)), edge_index, y, names


def negative_pairs(num_nodes: int, edges: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` node pairs ``(2, count)`` that are neither an edge of ``edges`` ``(2, E)`` nor self-loops."""
    taken = set((edges[0] * num_nodes + edges[1]).tolist())
    out: list[tuple[int, int]] = []
    while len(out) < count:
        cand = torch.randint(0, num_nodes, (2, 2 * count + 16), generator=generator)
        for u, v in cand.t().tolist():
            if u != v and u * num_nodes + v not in taken and len(out) < count:
                out.append((u, v))
    return torch.tensor(out, dtype=torch.long).t().reshape(2, count)


def link_splits(num_nodes: int, edge_index: Tensor, val: float, test: float, generator: torch.Generator
                ) -> tuple[Tensor, dict[str, tuple[Tensor, Tensor]]]:
    """Held-out edges for link prediction: undirected edges shuffled into train/val/test; the message
    graph is the training edges (both directions); each split scores its edges and as many non-edges.
    Returns the message edges ``(2, 2E_train)`` and per split ``(edge_label_index (2, 2P), edge_label (2P,))``."""
    und = edge_index[:, edge_index[0] < edge_index[1]]
    perm = torch.randperm(und.shape[1], generator=generator)
    n_val, n_test = round(val * und.shape[1]), round(test * und.shape[1])
    parts = {"val": und[:, perm[:n_val]], "test": und[:, perm[n_val:n_val + n_test]],
             "train": und[:, perm[n_val + n_test:]]}
    out = {}
    for name, pos in parts.items():
        neg = negative_pairs(num_nodes, edge_index, pos.shape[1], generator)
        out[name] = (torch.cat([pos, neg], dim=1), torch.cat([torch.ones(pos.shape[1]), torch.zeros(neg.shape[1])]))
    train = parts["train"]
    return torch.cat([train, train.flip(0)], dim=1), out


class SBMGraph(InMemoryDataset):
    """A transductive node-classification graph; each split holds the whole graph and its own ``mask``."""

    Config = SBMGraphConfig

    def build(self) -> tuple[Mapping[str, TensorSplit], dict[str, Any]]:
        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed)
        if cfg.graph == "sbm":
            y = torch.arange(cfg.num_blocks).repeat_interleave(cfg.block_size)
            edge_index = stochastic_block_model([cfg.block_size] * cfg.num_blocks, cfg.p_in, cfg.p_out, gen)
            x = sbm_features(y, cfg.feat_dim, cfg.feat_signal, gen)
            names = [f"block{i}" for i in range(cfg.num_blocks)]
        else:
            x, edge_index, y, names = karate_club()
        index = stratified_split(y.numpy(), cfg.val_fraction, cfg.test_fraction, cfg.seed)
        masks = {}
        for name, idx in index.items():
            m = torch.zeros(len(y), dtype=torch.bool)
            m[torch.from_numpy(np.asarray(idx)).long()] = True
            masks[name] = m
        if cfg.task == "link":
            message, labelled = link_splits(len(y), edge_index, cfg.val_fraction, cfg.test_fraction, gen)
            splits = {
                name: TensorSplit(x[None].float(), y[None].long(), edge_index=message[None],
                                  edge_label_index=labelled[name][0][None], edge_label=labelled[name][1][None],
                                  train_mask=masks["train"][None], val_mask=masks["val"][None],
                                  mask=masks[name][None])
                for name in ("train", "val", "test")
            }
        else:
            splits = {
                name: TensorSplit(x[None].float(), y[None].long(), edge_index=edge_index[None].long(),
                                  train_mask=masks["train"][None], val_mask=masks["val"][None],
                                  mask=masks[name][None])
                for name in ("train", "val", "test")
            }
        task = "link_prediction" if cfg.task == "link" else "node_classification"
        extra = {"num_nodes": len(y), "num_edges": int(edge_index.shape[1]), "graph": cfg.graph,
                 "split_nodes": {k: int(v.sum()) for k, v in masks.items()}}
        return splits, {"task": task, "num_classes": len(names), "class_names": names,
                        "extra": extra}
