"""The expandable CNN (paper Fig. 1, Sec. 3.1-3.2), the ``expandable_cnn`` model.

Images ``(B, H, W, C)`` (channels-last, permuted to channels-first inside) go through ``B`` blocks. Block ``b``
is a list of conv layers: the first is ``conv3x3 (c_b -> c_{b+1}) -> BatchNorm -> LeakyReLU``, every added
one is ``conv (c_{b+1} -> c_{b+1}, no bias) -> LeakyReLU``; then dropout; blocks are separated by max pooling.
The skip path takes block 1's output, pooled like the main path to the last block's resolution. The head is
the paper's "1x1 conv on the concatenation [last block, skip]", written as the sum of two 1x1 convs (one per
part, the same function) so that each part can grow on its own, then LeakyReLU, flatten, FC -> BatchNorm ->
LeakyReLU -> dropout -> FC.

Growth keeps the network function (Sec. 3.2):

* ``add_identity_layer(b)`` appends a conv initialised to the identity (plus ``identity_noise``) to block
  ``b``. With ``identity_slope='learned'`` its activation is a LeakyReLU whose negative slope is a parameter
  starting at 1, so the new layer is exactly the identity in train and eval mode at insertion and becomes a
  nonlinearity by training (a LeakyReLU after a LeakyReLU would scale negatives by slope^2; a BatchNorm would
  renormalise in train mode: the card's pitfalls).
* ``widen_block(b, c)`` gives every conv of block ``b`` ``c`` more output channels (new filters
  ``N(0, 1) * new_channel_noise``), the BatchNorm ``c`` more entries (weight 1, bias 0, running mean 0, var 1;
  the learned ones kept), the block's added layers ``c`` more inputs (noise; the new diagonal keeps the
  identity), and the consumer (the next block's first conv, or the head, and the skip conv for block 1) ``c``
  more input slices (noise).

Parameters grow *in place* (the same ``nn.Parameter`` objects, old entries in the leading block), so an
optimizer that carries state over a model change (``backprop`` with ``on_model_change: keep_state``) keeps
the moments of the old entries and starts the new ones at zero. ``architecture()`` is the serialisable
structure (channels and layers per block); ``architecture_state`` / ``load_architecture_state`` let the
trainer rebuild a grown model before it loads a checkpoint's weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_self_expanding_cnn.config import ExpandableCNNConfig


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator | None) -> Tensor:
    """PyTorch's default conv init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from ``generator``."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


class ConvLayer(nn.Module):
    """One conv layer of a block: ``conv -> [BatchNorm] -> LeakyReLU`` on ``(B, C, H, W)``.

    ``slope`` is a float (fixed LeakyReLU) or, for an added layer with ``identity_slope='learned'``, a scalar
    parameter (starting at 1: the identity)."""

    def __init__(self, cin: int, cout: int, *, kernel: int, batchnorm: bool, slope: float, learn_slope: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout) if batchnorm else None
        self.learned_slope = nn.Parameter(torch.tensor(1.0)) if learn_slope else None
        self.slope = slope

    def forward(self, x: Tensor) -> Tensor:
        z = self.conv(x)
        if self.bn is not None:
            z = self.bn(z)
        if self.learned_slope is not None:
            return torch.where(z >= 0, z, self.learned_slope * z)
        return F.leaky_relu(z, self.slope)


class Block(nn.Module):
    """A block: its conv layers, then dropout; ``(B, c_in, H, W) -> (B, c_out, H, W)``."""

    def __init__(self, layers: list[ConvLayer], dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.dropout(x)


def _grow_param(param: Tensor, new: Tensor) -> None:
    """Give ``param`` (the same object) the values ``new`` of a larger shape; drop its stale gradient."""
    param.data = new.to(dtype=param.dtype, device=param.device)
    param.grad = None


def _grow_buffer(module: nn.Module, name: str, extra: int, fill: float) -> None:
    old = getattr(module, name)
    setattr(module, name, torch.cat([old, torch.full((extra,), fill, dtype=old.dtype, device=old.device)]))


class ExpandableCNN(Model):
    """The self-expanding CNN: ``(B, H, W, C)`` images -> ``(B, num_classes)`` logits (see the module doc)."""

    Config = ExpandableCNNConfig
    config: ExpandableCNNConfig
    #: a small config for the kit (torch.export of each config costs seconds), with an added layer (a learned
    #: slope) in block 1; the other variants (no skip, 3x3 added layers, fixed slope) are the plugin's tests
    conformance_configs = (
        {"channels": [1, 3, 2], "input_size": [8, 8], "num_classes": 4, "head_channels": 2, "fc_hidden": 6,
         "layers": [2, 1]},
    )

    def __init__(self, config: ExpandableCNNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        side = self._spatial(len(cfg.channels) - 1)
        if min(side) < 1:
            raise ValueError(f"input_size {cfg.input_size} is too small for {len(cfg.channels) - 1} blocks pooled "
                             f"by {cfg.pool_stride}")
        self._build(list(cfg.channels), list(cfg.layers or [1] * (len(cfg.channels) - 1)))
        self.fc1 = nn.Linear(cfg.head_channels * side[0] * side[1], cfg.fc_hidden)
        self.bn_fc = nn.BatchNorm1d(cfg.fc_hidden)
        self.drop_fc = nn.Dropout(cfg.dropout_fc)
        self.fc2 = nn.Linear(cfg.fc_hidden, cfg.num_classes)

    # ---- structure -----------------------------------------------------------------------------------------
    def _spatial(self, blocks: int) -> tuple[int, int]:
        h, w = self.config.input_size
        for _ in range(blocks - 1):
            h, w = h // self.config.pool_stride, w // self.config.pool_stride
        return h, w

    def _layer(self, cin: int, cout: int, *, first: bool) -> ConvLayer:
        cfg = self.config
        if first:
            return ConvLayer(cin, cout, kernel=3, batchnorm=True, slope=cfg.negative_slope, learn_slope=False)
        kernel = 1 if cfg.identity_kind == "conv1x1" else 3
        learn = cfg.identity_slope == "learned" and cfg.preserve_function
        return ConvLayer(cin, cout, kernel=kernel, batchnorm=False, slope=cfg.negative_slope, learn_slope=learn)

    def _build(self, channels: list[int], layers: list[int]) -> None:
        """(Re)create blocks and head convs for ``channels`` (input + per block) and ``layers`` per block."""
        cfg = self.config
        blocks = []
        for b, n in enumerate(layers):
            cin, cout = channels[b], channels[b + 1]
            stack = [self._layer(cin, cout, first=True)] + [self._layer(cout, cout, first=False) for _ in range(n - 1)]
            blocks.append(Block(stack, cfg.dropout_conv))
        self.blocks = nn.ModuleList(blocks)
        self.head_main = nn.Conv2d(channels[-1], cfg.head_channels, 1)
        self.head_skip = nn.Conv2d(channels[1], cfg.head_channels, 1, bias=False) if cfg.skip_from_first else None

    def block(self, b: int) -> Block:
        """Block ``b``."""
        return cast(Block, self.blocks[b])

    def block_layers(self, b: int) -> list[ConvLayer]:
        """The conv layers of block ``b`` (the first, then the added ones)."""
        return [cast(ConvLayer, layer) for layer in self.block(b).layers]

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def channels(self) -> list[int]:
        """Input channels, then each block's output channels, as they are now."""
        return [self.config.channels[0]] + [int(self.block_layers(b)[0].conv.out_channels)
                                            for b in range(self.num_blocks)]

    def layers_per_block(self) -> list[int]:
        return [len(self.block(b).layers) for b in range(self.num_blocks)]

    def architecture(self) -> dict[str, Any]:
        """The serialisable structure: ``{"channels": [c_0, ..., c_B], "layers": [n_1, ..., n_B]}``."""
        return {"channels": self.channels(), "layers": self.layers_per_block()}

    def architecture_state(self) -> dict[str, Any]:
        """The engine's architecture record (``forwardkit.engine.architecture``): :meth:`architecture`."""
        return self.architecture()

    def load_architecture_state(self, state: Mapping[str, Any]) -> None:
        """Rebuild the blocks and head convs for a recorded architecture (the weights are loaded afterwards)."""
        channels, layers = [int(c) for c in state["channels"]], [int(n) for n in state["layers"]]
        if channels[0] != self.config.channels[0] or len(layers) != self.num_blocks or len(channels) != len(layers) + 1:
            raise ValueError(f"architecture {dict(state)} does not belong to this model ({self.architecture()})")
        if channels != self.channels() or layers != self.layers_per_block():
            device = self.fc1.weight.device
            with torch.random.fork_rng(devices=[]):  # the values do not matter: leave the run's generator alone
                self._build(channels, layers)
            self.to(device)
            self.train(self.training)  # the new modules in the model's mode

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def can_add_layer(self, b: int) -> bool:
        return len(self.block(b).layers) < self.config.max_layers_per_block

    def can_widen(self, b: int, c: int) -> bool:
        cap = self.config.max_channels_per_block
        return cap is None or self.channels()[b + 1] + c <= cap

    # ---- growth --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def add_identity_layer(self, b: int, *, generator: torch.Generator | None = None) -> None:
        """Append an identity-initialised conv layer to block ``b`` (Sec. 3.2; see the module doc)."""
        if not self.can_add_layer(b):
            raise ValueError(f"block {b} already has {len(self.block(b).layers)} layers (max_layers_per_block)")
        cfg = self.config
        c = self.channels()[b + 1]
        with torch.random.fork_rng(devices=[]):  # its init is overwritten: leave the run's generator alone
            layer = self._layer(c, c, first=False)
        k = layer.conv.kernel_size[0]
        if cfg.preserve_function:
            weight = torch.zeros(c, c, k, k)
            weight[torch.arange(c), torch.arange(c), k // 2, k // 2] = 1.0
            weight += cfg.identity_noise * torch.randn(weight.shape, generator=generator)
        else:
            weight = _uniform((c, c, k, k), c * k * k, generator)
        ref = self.block_layers(b)[0].conv.weight
        layer.conv.weight.data = weight.to(dtype=ref.dtype)
        self.block(b).layers.append(layer.to(ref.device).train(self.training))

    def _new(self, shape: tuple[int, ...], fan_in: int, generator: torch.Generator | None) -> Tensor:
        """Entries for new channels: ``N(0, 1) * new_channel_noise``, or PyTorch's init without preservation."""
        if self.config.preserve_function:
            return self.config.new_channel_noise * torch.randn(shape, generator=generator)
        return _uniform(shape, fan_in, generator)

    @torch.no_grad()
    def widen_block(self, b: int, c: int, *, generator: torch.Generator | None = None) -> None:
        """Add ``c`` output channels to every conv of block ``b`` and the matching input slices downstream."""
        if c < 1 or not self.can_widen(b, c):
            raise ValueError(f"cannot widen block {b} by {c} (max_channels_per_block "
                             f"{self.config.max_channels_per_block})")
        old = self.channels()[b + 1]
        for i, layer in enumerate(self.block_layers(b)):
            conv = layer.conv
            w = conv.weight.detach().cpu()
            kh, kw = conv.kernel_size
            cin = conv.in_channels
            if i > 0:  # an added layer: c more inputs too; the new diagonal continues the identity
                fan = (cin + c) * kh * kw
                grown = torch.cat([w, self._new((old, c, kh, kw), fan, generator)], dim=1)
                rows = self._new((c, cin + c, kh, kw), fan, generator)
                if self.config.preserve_function:
                    rows[torch.arange(c), cin + torch.arange(c), kh // 2, kw // 2] += 1.0
                grown = torch.cat([grown, rows], dim=0)
                conv.in_channels = cin + c
            else:
                grown = torch.cat([w, self._new((c, cin, kh, kw), cin * kh * kw, generator)], dim=0)
            _grow_param(conv.weight, grown)
            conv.out_channels = old + c
            if layer.bn is not None:
                bn = layer.bn
                _grow_param(bn.weight, torch.cat([bn.weight.detach().cpu(), torch.ones(c)]))
                _grow_param(bn.bias, torch.cat([bn.bias.detach().cpu(), torch.zeros(c)]))
                _grow_buffer(bn, "running_mean", c, 0.0)
                _grow_buffer(bn, "running_var", c, 1.0)
                bn.num_features = old + c
        consumers = [self.block_layers(b + 1)[0].conv] if b + 1 < self.num_blocks else [self.head_main]
        if b == 0 and self.head_skip is not None:
            consumers.append(self.head_skip)
        for conv in consumers:
            w = conv.weight.detach().cpu()
            cout, cin, kh, kw = w.shape
            _grow_param(conv.weight, torch.cat([w, self._new((cout, c, kh, kw), (cin + c) * kh * kw, generator)],
                                               dim=1))
            conv.in_channels = cin + c

    # ---- forward -------------------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, H, W, C)`` -> logits ``(B, num_classes)``."""
        stride = self.config.pool_stride
        h = x.permute(0, 3, 1, 2)
        skip = h
        last = self.num_blocks - 1
        for b, block in enumerate(self.blocks):
            h = block(h)
            if b == 0:
                skip = h
            if b < last:
                h = F.max_pool2d(h, stride, stride)
        z = self.head_main(h)
        if self.head_skip is not None:
            for _ in range(last):
                skip = F.max_pool2d(skip, stride, stride)
            z = z + self.head_skip(skip)
        z = F.leaky_relu(z, self.config.negative_slope).flatten(1)
        z = F.leaky_relu(self.bn_fc(self.fc1(z)), self.config.negative_slope)
        return self.fc2(self.drop_fc(z))

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``channels[0]`` (with the default block widths), ``input_size`` and ``num_classes`` from the data."""
        shape = tuple(metadata.input_shape)
        out: dict[str, Any] = {}
        if len(shape) == 3:
            default = cls.Config.model_fields["channels"].get_default(call_default_factory=True)
            out["channels"] = [int(shape[-1]), *default[1:]]
            out["input_size"] = [int(shape[0]), int(shape[1])]
        if metadata.num_classes is not None:
            out["num_classes"] = int(metadata.num_classes)
        return out

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        h, w = self.config.input_size
        x = torch.randn(batch_size, h, w, self.config.channels[0], generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}


def build_snapshot(config: Mapping[str, Any], architecture: Mapping[str, Any],
                   weights: Mapping[str, Tensor]) -> ExpandableCNN:
    """An :class:`ExpandableCNN` of ``config`` grown to ``architecture``, with ``weights`` loaded."""
    model = ExpandableCNN(**dict(config))
    model.load_architecture_state(architecture)
    model.load_state_dict(dict(weights))
    return model


__all__ = ["Block", "ConvLayer", "ExpandableCNN", "build_snapshot"]
