"""Graph batches and the virtual-node augmentation (paper sec. 3.2).

A batch holds ``B`` graphs of ``N`` nodes and ``E`` directed edges each: ``x`` ``(B, N, F)``,
``edge_index`` ``(B, 2, E)`` (node indices local to each graph), ``y`` ``(B, N)``, ``train_mask`` and
``mask`` ``(B, N)`` bool (``val_mask`` optionally). :func:`flatten` turns it into one disjoint union of
``B * N`` nodes; augmentation appends ``B * C`` virtual nodes after the real ones, graph ``b``'s class ``c``
at row ``B * N + b * C + c``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

EPS = 1e-8


def l2_normalize(x: Tensor) -> Tensor:
    """Row-wise ``x / (||x||_2 + 1e-8)`` (no parameters; applied before every GNN block): ``(M, D) -> (M, D)``."""
    return x / (x.norm(dim=-1, keepdim=True) + EPS)


@dataclass
class Graph:
    """The disjoint union of a batch's graphs (``M = B * N`` real nodes)."""

    x: Tensor  # (M, F)
    edge_index: Tensor  # (2, E_total), global indices
    y: Tensor  # (M,)
    train_mask: Tensor  # (M,) bool
    mask: Tensor  # (M,) bool
    val_mask: Tensor | None  # (M,) bool
    num_graphs: int
    nodes_per_graph: int
    edge_label_index: Tensor | None = None  # (2, K_total) global indices of the edges to score (link task)
    edge_label: Tensor | None = None  # (K_total,) 1 for a true edge, 0 for a negative one

    @property
    def num_nodes(self) -> int:
        return self.num_graphs * self.nodes_per_graph

    def graph_of(self) -> Tensor:
        """Graph index of every real node, ``(M,)``."""
        return torch.arange(self.num_nodes, device=self.x.device) // self.nodes_per_graph


def flatten(batch: Mapping[str, Tensor]) -> Graph:
    """The union graph of a batch of ``B`` equal-size graphs (see the module docstring)."""
    x = batch["x"]
    if x.dim() == 2:  # a single graph without its batch axis
        batch = {k: v.unsqueeze(0) for k, v in batch.items()}
        x = batch["x"]
    b, n, f = x.shape
    ei = batch["edge_index"].long()
    offsets = (torch.arange(b, device=x.device) * n).view(b, 1, 1)
    edge_index = (ei + offsets).permute(1, 0, 2).reshape(2, -1)
    y = batch["y"].reshape(-1).long()
    train_mask = batch.get("train_mask", batch.get("mask"))
    assert train_mask is not None, "a graph batch needs 'train_mask' (or 'mask')"
    mask = batch.get("mask", train_mask)
    val = batch.get("val_mask")
    eli, label = batch.get("edge_label_index"), batch.get("edge_label")
    if eli is not None:
        eli = (eli.long() + offsets).permute(1, 0, 2).reshape(2, -1)
    return Graph(
        x=x.reshape(b * n, f), edge_index=edge_index, y=y, train_mask=train_mask.reshape(-1).bool(),
        mask=mask.reshape(-1).bool(), val_mask=None if val is None else val.reshape(-1).bool(),
        num_graphs=b, nodes_per_graph=n, edge_label_index=eli,
        edge_label=None if label is None else label.reshape(-1).float(),
    )


def link_logits(z: Tensor, pairs: Tensor, score: str = "dot", theta: float = 2.0) -> Tensor:
    """Edge logits of node states ``z`` ``(M, H)`` for ``pairs`` ``(2, K)``: ``out = z[u] * z[v]`` ``(K, H)``;
    ``sum(out)`` (dot, the paper's FL score) or ``sum(out^2) - theta`` (FF goodness) -> ``(K,)``."""
    out = z[pairs[0]] * z[pairs[1]]
    return out.sum(-1) if score == "dot" else out.pow(2).sum(-1) - theta


def virtual_index(graph: Graph, labels: Tensor, nodes: Tensor, num_classes: int) -> Tensor:
    """Row of the virtual node of class ``labels[i]`` in the graph of real node ``nodes[i]``: ``(K,)``."""
    return graph.num_nodes + (nodes // graph.nodes_per_graph) * num_classes + labels


def virtual_edges(
    graph: Graph, nodes: Tensor, labels: Tensor, num_classes: int, *, bidirectional: bool = True
) -> Tensor:
    """Edges between real ``nodes`` ``(K,)`` and the virtual nodes of ``labels`` ``(K,)``: ``(2, K or 2K)``.

    Node -> virtual edges first (types 1..C in the paper), then virtual -> node (types C+1..2C).
    """
    vn = virtual_index(graph, labels, nodes, num_classes)
    out = torch.stack([nodes, vn])
    if bidirectional:
        out = torch.cat([out, torch.stack([vn, nodes])], dim=1)
    return out


def augment_with_virtual_nodes(
    graph: Graph, virtual_features: Tensor, *, bidirectional: bool = True, labels: Tensor | None = None,
    label_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Append ``C`` virtual nodes per graph and wire each labelled node to its class's one (paper sec. 3.2).

    ``virtual_features`` ``(C, F)`` (frozen), ``labels`` ``(M,)`` (default ``graph.y``), ``label_mask``
    ``(M,)`` (default ``graph.train_mask``: validation and test nodes get no virtual edge). Returns the
    node features ``(M + B*C, F)`` and edges ``(2, E + |mask|)`` (unidirection) or ``(2, E + 2|mask|)``.
    """
    c = virtual_features.shape[0]
    labels = graph.y if labels is None else labels
    label_mask = graph.train_mask if label_mask is None else label_mask
    nodes = label_mask.nonzero().flatten()
    extra = virtual_edges(graph, nodes, labels[nodes], c, bidirectional=bidirectional)
    vx = virtual_features.to(graph.x.dtype).repeat(graph.num_graphs, 1)
    return torch.cat([graph.x, vx]), torch.cat([graph.edge_index, extra], dim=1)


def real_and_virtual(h: Tensor, graph: Graph, num_classes: int) -> tuple[Tensor, Tensor]:
    """Split augmented node states ``(M + B*C, H)`` into ``(B, N, H)`` real and ``(B, C, H)`` virtual ones."""
    m = graph.num_nodes
    hd = h.shape[-1]
    return h[:m].view(graph.num_graphs, graph.nodes_per_graph, hd), h[m:].view(graph.num_graphs, num_classes, hd)


def prototype_logits(h: Tensor, graph: Graph, num_classes: int, temperature: float) -> Tensor:
    """SF logits of every real node against its graph's virtual nodes (paper eq. for SF):
    ``h_v . h_vn[c] / T``; ``h`` ``(M + B*C, H)`` -> ``(M, C)``."""
    real, virtual = real_and_virtual(h, graph, num_classes)
    return torch.bmm(real, virtual.transpose(1, 2)).reshape(graph.num_nodes, num_classes) / temperature


def label_matrix(graph: Graph, num_classes: int, fill: str, *, candidate: int | None = None) -> Tensor:
    """Label features ``(M, C)``: one-hot for training nodes; others uniform ``1/C`` (or zero), or
    one-hot(``candidate``) when given (FF+LA prediction)."""
    m = graph.num_nodes
    out = torch.full((m, num_classes), 1.0 / num_classes if fill == "uniform" else 0.0, device=graph.x.device,
                     dtype=graph.x.dtype)
    if candidate is not None:
        out.zero_()
        out[:, candidate] = 1.0
    idx = graph.train_mask.nonzero().flatten()
    out[idx] = 0.0
    out[idx, graph.y[idx]] = 1.0
    return out


def top_label_state(graph: Graph, num_classes: int, fill: str) -> Tensor:
    """Top-To-Input's fixed top state ``s_{L+1}`` ``(M + B*C, C)``: training nodes one-hot, other real
    nodes uniform (or zero), virtual nodes their own one-hot; test labels are never used."""
    real = label_matrix(graph, num_classes, fill)
    virtual = torch.eye(num_classes, device=real.device, dtype=real.dtype).repeat(graph.num_graphs, 1)
    return torch.cat([real, virtual])
