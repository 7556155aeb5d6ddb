"""GNN convolutions in plain torch (message passing with ``index_add_``), as used by the paper's blocks.

Every conv maps node states ``(M, D_in)`` and directed edges ``(2, E)`` (row 0 source, row 1 target;
messages flow source -> target) to ``(M, D_out)``. Self-loops are added where the original layer adds
them (GCN, GAT).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def add_self_loops(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``(2, E)`` -> ``(2, E + M)`` with an edge ``v -> v`` for every node."""
    loops = torch.arange(num_nodes, device=edge_index.device)
    return torch.cat([edge_index, torch.stack([loops, loops])], dim=1)


def gcn_propagate(x: Tensor, edge_index: Tensor) -> Tensor:
    """``D^-1/2 (A + I) D^-1/2 x`` (Kipf & Welling), degrees counted at the target: ``(M, D) -> (M, D)``."""
    m = x.shape[0]
    ei = add_self_loops(edge_index, m)
    src, dst = ei[0], ei[1]
    deg = torch.zeros(m, device=x.device, dtype=x.dtype).index_add_(0, dst, torch.ones_like(dst, dtype=x.dtype))
    inv = deg.pow(-0.5)
    w = (inv[src] * inv[dst]).unsqueeze(-1)
    return torch.zeros_like(x).index_add_(0, dst, x[src] * w)


def mean_neighbours(x: Tensor, edge_index: Tensor) -> Tensor:
    """Mean of the incoming neighbours' states (0 for nodes without any): ``(M, D) -> (M, D)``."""
    src, dst = edge_index[0], edge_index[1]
    total = torch.zeros_like(x).index_add_(0, dst, x[src])
    count = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype).index_add_(
        0, dst, torch.ones_like(dst, dtype=x.dtype))
    return total / count.clamp(min=1.0).unsqueeze(-1)


class GCNConv(nn.Module):
    """``D^-1/2 (A + I) D^-1/2 X W + b``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return gcn_propagate(self.lin(x), edge_index) + self.bias


class SAGEConv(nn.Module):
    """GraphSAGE with mean aggregation: ``W_1 mean_{j in N(i)} x_j + W_2 x_i``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.lin_neigh = nn.Linear(in_dim, out_dim)
        self.lin_root = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.lin_neigh(mean_neighbours(x, edge_index)) + self.lin_root(x)


class GATConv(nn.Module):
    """Graph attention (Velickovic et al.), ``heads`` heads of ``out_dim / heads`` concatenated, self-loops."""

    def __init__(self, in_dim: int, out_dim: int, heads: int = 4) -> None:
        super().__init__()
        if out_dim % heads:
            raise ValueError(f"out_dim {out_dim} must be divisible by heads {heads}")
        self.heads, self.head_dim = heads, out_dim // heads
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        bound = math.sqrt(6.0 / (self.head_dim + 1))
        self.att_src = nn.Parameter(torch.empty(heads, self.head_dim).uniform_(-bound, bound))
        self.att_dst = nn.Parameter(torch.empty(heads, self.head_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        m = x.shape[0]
        ei = add_self_loops(edge_index, m)
        src, dst = ei[0], ei[1]
        h = self.lin(x).view(m, self.heads, self.head_dim)
        score = F.leaky_relu((h * self.att_src).sum(-1)[src] + (h * self.att_dst).sum(-1)[dst], 0.2)  # (E, K)
        top = torch.full((m, self.heads), -torch.inf, device=x.device, dtype=x.dtype)
        top = top.index_reduce(0, dst, score, "amax", include_self=True)
        weight = (score - top[dst]).exp()
        denom = torch.zeros(m, self.heads, device=x.device, dtype=x.dtype).index_add_(0, dst, weight)
        alpha = weight / denom[dst]
        out = torch.zeros_like(h).index_add_(0, dst, h[src] * alpha.unsqueeze(-1))
        return out.reshape(m, -1) + self.bias


def make_conv(kind: str, in_dim: int, out_dim: int, heads: int = 4) -> nn.Module:
    if kind == "gcn":
        return GCNConv(in_dim, out_dim)
    if kind == "sage":
        return SAGEConv(in_dim, out_dim)
    if kind == "gat":
        return GATConv(in_dim, out_dim, heads)
    raise ValueError(f"unknown conv {kind!r}; choose 'gcn', 'sage' or 'gat'")


class GNNBlock(nn.Module):
    """``ReLU(Conv(x, edge_index))``: ``(M, D_in) -> (M, H)``; callers normalise the input first."""

    def __init__(self, conv: str, in_dim: int, out_dim: int, heads: int = 4) -> None:
        super().__init__()
        self.conv = make_conv(conv, in_dim, out_dim, heads)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return F.relu(self.conv(x, edge_index))
