"""``LocalGNNStack``: a plain stack of ``norm -> Conv -> ReLU`` GNN blocks (paper sec. 3).

The model holds structure only: the blocks, an optional linear head (its own forward, which backprop
trains), the frozen virtual-node features and the two architectural options the paper's forward rules
need (a label block in the input for FF+LA, top-down inputs for Top-To-Input). The layer-local losses,
the updates *and the inference* of each forward rule (virtual-node prototypes, the goodness of candidate
labels, top-down iterations, per-layer edge scores) belong to the rules (``predict``), in
:mod:`.single_forward`, :mod:`.forward_forward`, :mod:`.top_down` and :mod:`.linkpred`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_forwardgnn.config import LocalGNNStackConfig
from forwardkit_forwardgnn.conv import GNNBlock
from forwardkit_forwardgnn.graph import (
    Graph,
    augment_with_virtual_nodes,
    flatten,
    l2_normalize,
    label_matrix,
    link_logits,
)


class LocalGNNStack(Model):
    """GNN blocks ``h_l = ReLU(Conv_l(norm(h_{l-1})))``; ``forward_batch`` = head on the last block.

    With ``label_input`` the first block takes ``[x, labels]`` ``(M, F + C)``; with ``top_down`` block ``l``
    takes ``concat(norm(s_{l-1}), norm(s_{l+1}))`` (width ``H_{l-1} + H_{l+1}``, the top state being
    ``C``-wide). ``virtual_features`` ``(C, F)`` is a frozen N(0, 1) draw saved with the weights: the
    features of the per-class virtual nodes the SF / FF+VN / top-down rules add to the graph.
    """

    Config = LocalGNNStackConfig

    def __init__(self, config: LocalGNNStackConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        f, h, c, n = cfg.in_features, cfg.hidden, cfg.num_classes, cfg.num_layers
        widths = [f + (c if cfg.label_input else 0)] + [h] * n
        if cfg.top_down:
            widths.append(c)
            in_dims = [widths[i] + widths[i + 2] for i in range(n)]
        else:
            in_dims = widths[:n]
        self.layers = nn.ModuleList(GNNBlock(cfg.conv, d, h, cfg.gat_heads) for d in in_dims)
        self.head = nn.Linear(h, c) if cfg.head else None
        self.register_buffer("virtual_features", torch.randn(c, f))

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_features`` is the last axis of the ``(N, F)`` node features; ``num_classes`` the classes."""
        out: dict[str, Any] = {"in_features": int(metadata.input_shape[-1])}
        if metadata.num_classes is not None:
            out["num_classes"] = int(metadata.num_classes)
        return out

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    def graph(self, batch: Mapping[str, Tensor]) -> Graph:
        return flatten(batch)

    def augment(self, graph: Graph, *, bidirectional: bool = True, labels: Tensor | None = None,
                label_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Node features ``(M + B*C, F)`` and edges with the virtual nodes (see :func:`augment_with_virtual_nodes`)."""
        return augment_with_virtual_nodes(graph, self.virtual_features, bidirectional=bidirectional,
                                          labels=labels, label_mask=label_mask)

    def with_labels(self, graph: Graph, labels: Tensor) -> Tensor:
        """Input ``[x, labels]`` ``(M, F + C)`` of a ``label_input`` model; ``labels`` ``(M, C)``."""
        return torch.cat([graph.x, labels.to(graph.x.dtype)], dim=-1)

    def block(self, i: int, x: Tensor, edge_index: Tensor) -> Tensor:
        """Block ``i`` (0-based) on the normalised input: ``(M', D) -> (M', H)``."""
        return self.layers[i](l2_normalize(x), edge_index)

    def bottom_up(self, x: Tensor, edge_index: Tensor, upto: int | None = None) -> list[Tensor]:
        """States ``h_1 .. h_k`` of the first ``upto`` blocks (default all), each ``(M', H)``."""
        out = []
        for i in range(self.num_layers if upto is None else upto):
            x = self.block(i, x, edge_index)
            out.append(x)
        return out

    def top_input_block(self, i: int, states: list[Tensor], edge_index: Tensor) -> Tensor:
        """Top-down block ``i``: ``ReLU(Conv_i(concat(norm(s_i), norm(s_{i+2}))))`` where ``states`` is
        ``[x, h_1, ..., h_L, top]``."""
        inp = torch.cat([l2_normalize(states[i]), l2_normalize(states[i + 2])], dim=-1)
        return self.layers[i](inp, edge_index)

    def top_input_initial(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        """States ``h_1 .. h_L`` of a bottom-up pass of a ``top_down`` model with zeros in the top-down slot."""
        states = [x]
        n, c = self.num_layers, self.num_classes
        for i in range(n):
            zeros = x.new_zeros(x.shape[0], c if i == n - 1 else self.config.hidden)
            states.append(self.layers[i](torch.cat([l2_normalize(states[i]), zeros], dim=-1), edge_index))
        return states[1:]

    def embed(self, graph: Graph) -> Tensor:
        """Last block's states ``(M, H)`` of a plain bottom-up pass (label block uniform, top-down slot zero)."""
        x = graph.x
        if self.config.label_input:
            x = self.with_labels(graph, label_matrix(graph, self.num_classes, "uniform"))
        if self.config.top_down:
            return self.top_input_initial(x, graph.edge_index)[-1]
        return self.bottom_up(x, graph.edge_index)[-1]

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Tensor:
        """The plain network's output: class logits ``(B, N, C)`` (``(B, N, H)`` states without a head), or,
        for a link batch (``edge_label_index`` ``(B, 2, K)``), the last block's dot-product edge logits ``(B, K)``."""
        g = self.graph(batch)
        z = self.embed(g)
        if g.edge_label_index is not None:
            return link_logits(z, g.edge_label_index).view(g.num_graphs, -1)
        out = self.head(z) if self.head is not None else z
        return out.view(g.num_graphs, g.nodes_per_graph, -1)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:  # type: ignore[override]
        return self.forward_batch(batch)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``batch_size`` random graphs of 10 nodes and 24 edges: 5 training, 2 validation, 3 test nodes."""
        n, e, c = 10, 24, self.num_classes
        x = torch.randn(batch_size, n, self.config.in_features, generator=generator)
        edge_index = torch.randint(0, n, (batch_size, 2, e), generator=generator)
        y = torch.randint(0, c, (batch_size, n), generator=generator)
        idx = torch.arange(n).expand(batch_size, n)
        return {"x": x, "edge_index": edge_index, "y": y, "train_mask": idx < 5,
                "val_mask": (idx >= 5) & (idx < 7), "mask": idx >= 7}

