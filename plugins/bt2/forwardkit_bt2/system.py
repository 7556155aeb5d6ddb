"""A retrieval system's model versions as one model (``compat_system``), so that a multi-stage experiment trains
the old model, then the independent new one, then the compatible new one, each stage carrying the others' weights.

Members are ordinary models built from their specs (with their own adapters, e.g. ``basis_transform_head`` on the
compatible one); ``train`` names the member whose forward the system's forward is. Every other member is frozen
(``requires_grad=False``): a reference the learning rules read (the old and the independent models) and the
retrieval analyzer compares.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

import forwardkit
from forwardkit.interfaces import Model
from forwardkit_bt2.config import CompatSystemConfig


def _member_spec(spec: dict[str, Any], system: CompatSystemConfig) -> dict[str, Any]:
    """``spec`` with ``in_channels`` / ``num_classes`` / ``image_size`` from the system where its Config has them."""
    fields = forwardkit.get_registry().get("model", spec["name"]).load_config().model_fields
    filled = dict(spec)
    for key in ("in_channels", "num_classes", "image_size"):
        if key in fields and key not in filled:
            filled[key] = getattr(system, key)
    return filled


class CompatSystem(Model):
    """``compat_system``: ``forward(x)`` is ``members[train](x)``; the members sit in ``self.members``."""

    Config = CompatSystemConfig
    config: CompatSystemConfig
    gradient_exempt = {
        "members.*.head.old_branch.*": "BT^2's logits W f do not read the old branch: it shapes only the embedding "
        "phi, which bt2_rule's compatibility terms train",
        "members.*.head.rot_*": "the orthogonal maps O_p, O_2 act on the embedding phi only, not on the logits W f "
        "(bt2_rule's compatibility terms train them)",
    }

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        members: dict[str, nn.Module] = {}
        for name, spec in cfg.members.items():
            member: nn.Module = forwardkit.build_model(_member_spec(spec, cfg))
            for aspec in cfg.adapters.get(name, []):
                conf = {k: v for k, v in aspec.items() if k != "name"}
                member = forwardkit.create("adapter", aspec["name"], conf).apply(member)
            members[name] = member
        self.members = nn.ModuleDict(members)
        for name, member in self.members.items():
            if name != cfg.train:
                member.requires_grad_(False)

    def member(self, name: str) -> nn.Module:
        """The member called ``name`` (a clear error for an unknown one)."""
        if name not in self.members:
            raise forwardkit.ForwardkitError(f"compat_system has no member {name!r} (members: "
                                             f"{', '.join(self.members)})")
        return self.members[name]

    @property
    def trained(self) -> nn.Module:
        return self.members[self.config.train]

    def forward(self, x: Tensor) -> Any:
        return self.trained(x)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        fn = getattr(self.trained, "example_batch", None)
        if callable(fn):
            return fn(batch_size, generator=generator)
        cfg = self.config
        x = torch.rand(batch_size, cfg.image_size, cfg.image_size, cfg.in_channels, generator=generator)
        return {"x": x, "y": torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)}
