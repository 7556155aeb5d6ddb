"""The models: ``tiny_branch_cnn`` (one small CNN), ``dual_io_model`` (stage 1: two of them side by side) and
``unified_model`` (stage 2: both trunks on one input, concatenated features, a new head).

Paper (Isong 2025, arXiv:2501.15547), sec. "dual-input-output model" and "transfer learning": two branches are
trained, one on the original and one on augmented images, each with its own output; then they are merged into one
model whose classification head is new. The layer list is the spec card's reference (the paper's is not known).
Images are channels-last ``(B, H, W, C)``; convolutions run channels-first inside.

Parameter names are chosen so that a stage-2 ``unified_model`` takes the trunks of a stage-1 ``dual_io_model`` by
name: ``branch_a.trunk.*`` and ``branch_b.trunk.*`` in both (``carry: {include: [branch_a.trunk,
branch_b.trunk]}``), the stage-1 heads ``branch_*.head.*`` are left behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_lightweight_cnn.config import DualIOModelConfig, TinyBranchCNNConfig, TrunkFields, UnifiedModelConfig
from forwardkit_lightweight_cnn.sizes import trunk_features

GroupMode = str  # "per_layer" | "per_block"


class ConvBlock(nn.Module):
    """``Conv2d(cin, cout, k, padding k // 2)`` -> [BatchNorm2d] -> ReLU -> [MaxPool2d(2)] on ``(B, C, H, W)``."""

    def __init__(self, cin: int, cout: int, kernel: int, *, batchnorm: bool, pool: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm2d(cout) if batchnorm else nn.Identity()
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class ConvTrunk(nn.Module):
    """The feature extractor of one branch: ``(B, H, W, C)`` -> ``(B, F)``.

    ``layers[i]`` is a :class:`ConvBlock`; then global average pooling (``F = widths[-1]``) or flattening
    (``F = widths[-1] * H' * W'``).
    """

    def __init__(self, cfg: TrunkFields) -> None:
        super().__init__()
        chans = [cfg.in_channels, *cfg.widths]
        self.layers = nn.ModuleList(
            ConvBlock(a, b, cfg.kernel, batchnorm=cfg.batchnorm, pool=p)
            for a, b, p in zip(chans[:-1], chans[1:], cfg.pool_after, strict=True))
        self.gap = cfg.gap
        self.features = trunk_features(cfg)

    def forward(self, x: Tensor) -> Tensor:
        h = x.permute(0, 3, 1, 2)  # (B, C, H, W)
        for layer in self.layers:
            h = layer(h)
        return h.mean(dim=(2, 3)) if self.gap else h.flatten(1)

    def blocks(self) -> list[list[int]]:
        """Layer indices grouped into blocks: each block ends with a layer that max-pools (or the last layer)."""
        out: list[list[int]] = [[]]
        for i, layer in enumerate(self.layers):
            out[-1].append(i)
            if isinstance(layer.pool, nn.MaxPool2d) and i < len(self.layers) - 1:
                out.append([])
        return out


def trunk_groups(prefixes: list[str], trunk: ConvTrunk, mode: GroupMode) -> list[list[str]]:
    """Unfreezing groups, top first: group ``s`` holds the ``s``-th layer (or block) from the top of every trunk
    named in ``prefixes`` (module names, e.g. ``branch_a.trunk``)."""
    units = [[i] for i in range(len(trunk.layers))] if mode == "per_layer" else trunk.blocks()
    return [[f"{p}.layers.{i}" for p in prefixes for i in unit] for unit in reversed(units)]


def _image_batch(cfg: TrunkFields, batch_size: int, generator: torch.Generator | None, classes: int,
                 ) -> dict[str, Tensor]:
    h, w = cfg.input_size
    x = torch.rand(batch_size, h, w, cfg.in_channels, generator=generator)
    return {"x": x, "y": torch.randint(0, classes, (batch_size,), generator=generator)}


def _size_fields(metadata: Any) -> dict[str, Any]:
    shape = tuple(metadata.input_shape)
    return {"input_size": [int(shape[0]), int(shape[1])]} if len(shape) == 3 else {}


class TinyBranchCNN(Model):
    """One branch (card component ``tiny_branch_cnn``): ``(B, H, W, C)`` -> logits ``(B, num_classes)``, or
    features ``(B, F)`` with ``head=False``. Reference config: 4,728 trunk parameters, 4,978 with the head."""

    Config = TinyBranchCNNConfig
    config: TinyBranchCNNConfig

    def __init__(self, config: TinyBranchCNNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.trunk = ConvTrunk(self.config)
        self.head = nn.Linear(self.trunk.features, self.config.num_classes) if self.config.head else None

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        return {**super().fields_from_metadata(metadata), **_size_fields(metadata)}

    def forward(self, x: Tensor) -> Tensor:
        f = self.trunk(x)
        return f if self.head is None else self.head(f)

    def unfreeze_plan(self, mode: GroupMode) -> tuple[list[str], list[list[str]]]:
        """``(head modules, groups top-first)`` for :func:`~forwardkit_lightweight_cnn.unfreezing.layer_groups`."""
        return (["head"] if self.head is not None else []), trunk_groups(["trunk"], self.trunk, mode)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return _image_batch(self.config, batch_size, generator, self.config.num_classes)


class DualIOModel(Model):
    """Stage 1's dual-input-output model (card component ``dual_io_model``; paper sec. "dual-input-output model").

    ``forward(x, x_aug)``: ``x``, ``x_aug`` ``(B, H, W, C)`` -> ``(B, 2, num_classes)`` with
    ``out[:, 0] = A(x)`` (branch A, original images) and ``out[:, 1] = B(x_aug)`` (branch B, augmented images).
    The branches share no parameter. ``forward_batch`` feeds ``batch["x_aug"]`` to branch B when the batch has it
    (the ``dual_io_rule`` adds it), else ``batch["x"]``.
    """

    Config = DualIOModelConfig
    config: DualIOModelConfig
    #: what ``dual_io_rule`` checks for: ``forward(x, x_aug)`` gives ``(B, 2, K)``
    dual_io: ClassVar[bool] = True

    def __init__(self, config: DualIOModelConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        fields = {**self.config.model_dump(), "head": True}
        self.branch_a = TinyBranchCNN(TinyBranchCNNConfig.model_validate(fields))
        self.branch_b = TinyBranchCNN(TinyBranchCNNConfig.model_validate(fields))

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        return {**super().fields_from_metadata(metadata), **_size_fields(metadata)}

    def forward(self, x: Tensor, x_aug: Tensor | None = None) -> Tensor:
        return torch.stack([self.branch_a(x), self.branch_b(x if x_aug is None else x_aug)], dim=1)

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self(batch["x"], batch.get("x_aug"))

    def unfreeze_plan(self, mode: GroupMode) -> tuple[list[str], list[list[str]]]:
        return ["branch_a.head", "branch_b.head"], trunk_groups(["branch_a.trunk", "branch_b.trunk"],
                                                                  self.branch_a.trunk, mode)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        batch = _image_batch(self.config, batch_size, generator, self.config.num_classes)
        batch["x_aug"] = torch.rand(batch["x"].shape, generator=generator)
        return batch


class FusionHead(nn.Module):
    """The unified model's new head: ``Linear(2F, hidden)`` -> ReLU -> Dropout -> ``Linear(hidden, classes)``."""

    def __init__(self, features: int, hidden: int, classes: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, z: Tensor) -> Tensor:
        return self.fc2(self.drop(self.act(self.fc1(z))))


class UnifiedModel(Model):
    """Stage 2's unified model (card component ``unified_model``; paper sec. "transfer learning").

    ``(B, H, W, C)`` -> logits ``(B, num_classes)``: ``f_A = A_trunk(x)``, ``f_B = B_trunk(x)`` (the same,
    un-augmented input), ``z = concat(f_A, f_B)`` ``(B, 2F)``, ``logits = Head(z)``. Reference config: 15,130
    parameters. Trunks are ``branch_a.trunk`` / ``branch_b.trunk`` (carried from ``dual_io_model``), the head
    ``head`` (new).
    """

    Config = UnifiedModelConfig
    config: UnifiedModelConfig

    def __init__(self, config: UnifiedModelConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        fields = {**self.config.model_dump(exclude={"head_hidden", "dropout"}), "head": False}
        self.branch_a = TinyBranchCNN(TinyBranchCNNConfig.model_validate(fields))
        self.branch_b = TinyBranchCNN(TinyBranchCNNConfig.model_validate(fields))
        cfg = self.config
        self.head = FusionHead(2 * self.branch_a.trunk.features, cfg.head_hidden, cfg.num_classes, cfg.dropout)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        return {**super().fields_from_metadata(metadata), **_size_fields(metadata)}

    def features(self, x: Tensor) -> Tensor:
        """``z = concat(A_trunk(x), B_trunk(x))``: ``(B, H, W, C)`` -> ``(B, 2F)``."""
        return torch.cat([self.branch_a(x), self.branch_b(x)], dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def unfreeze_plan(self, mode: GroupMode) -> tuple[list[str], list[list[str]]]:
        return ["head"], trunk_groups(["branch_a.trunk", "branch_b.trunk"], self.branch_a.trunk, mode)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return _image_batch(self.config, batch_size, generator, self.config.num_classes)
