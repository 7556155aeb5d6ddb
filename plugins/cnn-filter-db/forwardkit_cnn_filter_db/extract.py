"""Filter extraction (paper Sec. 3, "Data collection"): every kh x kw kernel of a model as one row.

A 2-D convolution with weight ``(c_out, c_in / g, kh, kw)`` contributes ``c_out * c_in / g`` rows of
``kh * kw`` values (a transposed convolution's ``(c_in, c_out / g, kh, kw)`` weight is permuted to
``(out, in)`` first). Each layer gets the card's metadata: ``conv_depth``, the number of convolutions
on the longest path from the input to this layer (read from the autograd graph of one forward pass,
so branches are handled and module registration order does not matter), and
``conv_depth_norm = conv_depth / max conv_depth`` in ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from forwardkit.data import example_batch, forward_batch
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_cnn_filter_db.config import FilterExtractorConfig, SelectionConfig

__all__ = [
    "FilterExtractor",
    "FilterTable",
    "LayerFilters",
    "conv_depths",
    "extract_filters",
    "extract_table",
    "first_batch",
]

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass
class LayerFilters:
    """One selected convolution: its kernels ``weight`` ``(c_out, c_in / g, kh, kw)`` (``out, in`` order)
    and where its rows lie in the table (``start:stop``)."""

    name: str
    index: int
    conv_depth: int
    conv_depth_norm: float
    weight: np.ndarray
    groups: int
    transposed: bool
    depthwise: bool
    start: int
    stop: int

    @property
    def n_filters(self) -> int:
        return self.stop - self.start

    @property
    def filters(self) -> np.ndarray:
        """The layer's kernels as rows ``(c_out * c_in / g, kh * kw)``."""
        return self.weight.reshape(-1, self.weight.shape[-2] * self.weight.shape[-1])

    def info(self) -> dict[str, Any]:
        out_ch, in_g, kh, kw = self.weight.shape
        return {
            "layer": self.index, "name": self.name, "conv_depth": self.conv_depth,
            "conv_depth_norm": round(self.conv_depth_norm, 6), "out_channels": out_ch, "in_per_group": in_g,
            "groups": self.groups, "kernel": f"{kh}x{kw}", "transposed": self.transposed,
            "depthwise": self.depthwise, "n_filters": self.n_filters,
        }


@dataclass
class FilterTable:
    """All selected kernels of a model: ``filters`` ``(N, kh * kw)`` and their ``layers``."""

    filters: np.ndarray
    layers: list[LayerFilters] = field(default_factory=list)
    depth_method: str = "autograd"

    def rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        """One metadata dict per filter row (layer, depth, output and input channel), up to ``limit``."""
        out: list[dict[str, Any]] = []
        for layer in self.layers:
            c_in = layer.weight.shape[1]
            for k in range(layer.n_filters):
                if limit is not None and len(out) >= limit:
                    return out
                out.append({"layer": layer.index, "name": layer.name, "conv_depth": layer.conv_depth,
                            "conv_depth_norm": round(layer.conv_depth_norm, 6), "out": k // c_in, "in": k % c_in})
        return out

    def layer_of_rows(self) -> np.ndarray:
        """The layer index of every row, ``(N,)`` int64."""
        return np.concatenate([np.full(layer.n_filters, layer.index) for layer in self.layers]).astype(np.int64) \
            if self.layers else np.zeros(0, np.int64)


def first_batch(model: nn.Module, data: Iterable[Any] | None, n: int = 2) -> dict[str, Tensor] | None:
    """The first ``n`` samples of ``data`` (or of the model's ``example_batch``) on the model's device, or
    None when there is neither."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        return example_batch(data, model, batch_size=n, device=device)
    except ForwardkitError:
        return None


def _longest_conv_paths(roots: Iterable[Any]) -> dict[Any, int]:
    """For every autograd node reachable from ``roots``: the number of convolution nodes on the longest
    path from a leaf up to and including that node (iterative post-order walk)."""
    memo: dict[Any, int] = {}
    for root in roots:
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node is None or (node in memo and not expanded):
                continue
            children = [c for c, _ in getattr(node, "next_functions", ()) if c is not None]
            if not expanded:
                stack.append((node, True))
                stack.extend((c, False) for c in children if c not in memo)
                continue
            own = 1 if type(node).__name__.startswith("ConvolutionBackward") else 0
            memo[node] = own + max((memo.get(c, 0) for c in children), default=0)
    return memo


def _autograd_depths(model: nn.Module, batch: Any) -> dict[str, int] | None:
    convs = {name: m for name, m in model.named_modules() if isinstance(m, _CONV_TYPES)}
    seen: dict[str, list[Any]] = {}
    hooks = [
        m.register_forward_hook(lambda mod, inp, out, name=name: seen.setdefault(name, []).append(
            out.grad_fn if isinstance(out, Tensor) else None))
        for name, m in convs.items()
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            forward_batch(model, batch)
    except Exception:
        return None
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if any(fn is None for fns in seen.values() for fn in fns):
        return None
    roots = [fn for fns in seen.values() for fn in fns]
    memo = _longest_conv_paths(roots)
    depths: dict[str, int] = {}
    for name, fns in seen.items():
        below = [max((memo.get(c, 0) for c, _ in fn.next_functions if c is not None), default=0) for fn in fns]
        depths[name] = max(below)
    return depths


def _fx_depths(model: nn.Module) -> dict[str, int] | None:
    try:
        graph_module = torch.fx.symbolic_trace(model)
    except Exception:
        return None
    modules = dict(graph_module.named_modules())
    below: dict[Any, int] = {}
    depths: dict[str, int] = {}
    for node in graph_module.graph.nodes:
        prev = max((below.get(n, 0) for n in node.all_input_nodes), default=0)
        is_conv = node.op == "call_module" and isinstance(modules.get(node.target), _CONV_TYPES)
        if is_conv:
            depths[str(node.target)] = max(depths.get(str(node.target), 0), prev)
        below[node] = prev + int(is_conv)
    return depths


def conv_depths(model: nn.Module, data: Iterable[Any] | None = None) -> tuple[dict[str, int], str]:
    """``({conv module name: conv_depth}, method)``: convs on the longest path below each convolution.

    Method ``autograd`` runs one forward pass (two samples of ``data`` or of ``model.example_batch``) and
    walks the autograd graph; ``fx`` traces the model symbolically; ``order`` (last resort) numbers the
    convolutions in registration order. Convs the forward pass never calls get depth 0.
    """
    names = [name for name, m in model.named_modules() if isinstance(m, _CONV_TYPES)]
    batch = first_batch(model, data)
    if batch is not None:
        depths = _autograd_depths(model, batch)
        if depths is not None:
            return {n: depths.get(n, 0) for n in names}, "autograd"
    fx = _fx_depths(model)
    if fx is not None:
        return {n: fx.get(n, 0) for n in names}, "fx"
    return {n: i for i, n in enumerate(names)}, "order"


def _kernels(module: nn.Module) -> tuple[Tensor, bool]:
    """The weight as ``(out, in / g, *kernel)`` and whether the module is transposed."""
    w = module.weight.detach()
    if isinstance(module, nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d):
        g = module.groups
        c_in, out_g = w.shape[:2]
        w = w.reshape(g, c_in // g, out_g, *w.shape[2:]).transpose(1, 2).reshape(g * out_g, c_in // g, *w.shape[2:])
        return w, True
    return w, False


def extract_table(
    model: nn.Module, config: SelectionConfig | None = None, *, data: Iterable[Any] | None = None, **overrides: Any
) -> FilterTable:
    """The :class:`FilterTable` of ``model``: every 2-D conv whose kernel is ``config.kernel_size``
    (depthwise and transposed ones unless excluded), layers ordered by ``(conv_depth, registration)``."""
    cfg = config if config is not None else FilterExtractorConfig(**overrides)
    if config is not None and overrides:
        cfg = type(config)(**{**config.model_dump(), **overrides})
    dtype = np.dtype(getattr(cfg, "dtype", "float32"))
    depths, method = conv_depths(model, data)
    max_depth = max(depths.values(), default=0)
    picked: list[tuple[int, int, str, np.ndarray, int, bool, bool]] = []
    for order, (name, module) in enumerate((n, m) for n, m in model.named_modules() if isinstance(m, _CONV_TYPES)):
        if module.weight.dim() != 4 or tuple(module.weight.shape[-2:]) != tuple(cfg.kernel_size):
            continue
        w, transposed = _kernels(module)
        if transposed and not cfg.include_transposed:
            continue
        depthwise = module.groups > 1 and module.groups == module.in_channels
        if depthwise and not cfg.include_depthwise:
            continue
        arr = w.to(torch.float64).cpu().numpy().astype(dtype)
        picked.append((depths[name], order, name, arr, module.groups, transposed, depthwise))
    picked.sort(key=lambda p: (p[0], p[1]))
    layers, blocks, start = [], [], 0
    kk = int(np.prod(cfg.kernel_size))
    for index, (depth, _, name, arr, groups, transposed, depthwise) in enumerate(picked):
        n = arr.shape[0] * arr.shape[1]
        layers.append(LayerFilters(name=name, index=index, conv_depth=depth,
                                   conv_depth_norm=depth / max_depth if max_depth else 0.0, weight=arr,
                                   groups=groups, transposed=transposed, depthwise=depthwise,
                                   start=start, stop=start + n))
        blocks.append(arr.reshape(n, kk))
        start += n
    filters = np.concatenate(blocks) if blocks else np.zeros((0, kk), dtype)
    return FilterTable(filters=filters, layers=layers, depth_method=method)


def extract_filters(model: nn.Module, **overrides: Any) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Functional form: ``(filters (N, 9), one metadata row per filter)`` of every 3x3 conv of ``model``."""
    table = extract_table(model, **overrides)
    return table.filters, table.rows()


class FilterExtractor(Analyzer):
    """Every selected kernel of a model as a table row with metadata (paper Sec. 3).

    Numbers: ``n_filters``, ``n_layers``, ``max_conv_depth``, ``layer<i>/n_filters`` and
    ``layer<i>/conv_depth``; tables ``layers`` and ``filters`` (metadata and the ``w0..w8`` values, at
    most ``max_table_rows``); figures of the shallowest layer's filters and the pooled principal axes.
    """

    Config = FilterExtractorConfig
    config: FilterExtractorConfig

    def table(self, model: nn.Module, data: Iterable[Any] | None = None) -> FilterTable:
        """The model's :class:`FilterTable` under this analyzer's config."""
        return extract_table(model, self.config, data=data)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        cfg = self.config
        table = self.table(model, data)
        numbers: dict[str, float] = {
            "n_filters": float(len(table.filters)), "n_layers": float(len(table.layers)),
            "max_conv_depth": float(max((layer.conv_depth for layer in table.layers), default=0)),
        }
        for layer in table.layers:
            numbers[f"layer{layer.index}/n_filters"] = float(layer.n_filters)
            numbers[f"layer{layer.index}/conv_depth"] = float(layer.conv_depth)
        tables: dict[str, list[dict[str, Any]]] = {"layers": [layer.info() for layer in table.layers]}
        if cfg.max_table_rows:
            meta = table.rows(cfg.max_table_rows)
            tables["filters"] = [
                {**row, **{f"w{j}": float(v) for j, v in enumerate(values)}}
                for row, values in zip(meta, table.filters[: len(meta)], strict=True)
            ]
        figures: dict[str, Any] = {}
        if cfg.plots and table.layers:
            from forwardkit_cnn_filter_db.plots import filter_grid, principal_components_figure

            figures["first_layer"] = filter_grid(table.layers[0].filters, tuple(cfg.kernel_size),
                                                 title=f"{table.layers[0].name}: first 64 filters")
            if tuple(cfg.kernel_size) == (3, 3) and len(table.filters) >= 2:
                figures["principal_components"] = principal_components_figure(table.filters)
        return Analysis(numbers=numbers, tables=tables, figures=figures)
