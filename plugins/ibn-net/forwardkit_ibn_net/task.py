"""``style_shift`` task: classification that also reports the accuracy of each appearance domain."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from forwardkit.builtin.tasks import Classification
from forwardkit_ibn_net.config import STYLES, StyleShiftConfig

__all__ = ["StyleShift", "per_domain_accuracy"]


def per_domain_accuracy(logits: Tensor, y: Tensor, domain: Tensor) -> dict[str, tuple[float, int]]:
    """``{"accuracy_<style>": (correct, count)}`` for every style index present in ``domain``;
    ``logits`` ``(B, K)``, ``y`` and ``domain`` ``(B,)``."""
    correct = logits.argmax(dim=-1) == y
    out = {}
    for d in torch.unique(domain).tolist():
        mask = domain == d
        name = STYLES[int(d)] if 0 <= int(d) < len(STYLES) else f"domain{int(d)}"
        out[f"accuracy_{name}"] = (float(correct[mask].sum()), int(mask.sum()))
    return out


class StyleShift(Classification):
    """Cross-entropy on logits ``(B, K)``; accuracy, top-k, and ``accuracy_<style>`` per domain (batches
    with a ``domain`` entry, as StyleShiftDigits yields)."""

    Config = StyleShiftConfig  # type: ignore[assignment]

    def metrics(self, output: Tensor, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        out = super().metrics(output, batch)
        if "domain" in batch:
            out.update(per_domain_accuracy(output, batch["y"], batch["domain"]))
        return out

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        """Random logits and labels of one random domain."""
        logits, batch = super().example(batch_size, generator=generator)
        d = int(torch.randint(0, len(STYLES), (1,), generator=generator))
        batch["domain"] = torch.full((batch_size,), d, dtype=torch.long)
        return logits, batch
