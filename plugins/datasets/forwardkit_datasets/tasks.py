"""``style_shift`` task: classification that also reports the accuracy of each domain.

Generic over domain-shift data: any dataset whose items carry an int ``domain`` index next to ``x`` and
``y`` (``style_shift_digits`` does, and names ``style_shift`` as its ``metadata.task``). The metric keys
are ``accuracy_<name>``, with the names of ``domain_names``, which the trainer fills from the dataset's
``metadata.extra["styles"]`` (index order) unless the experiment sets them (default otherwise: the styles of
``style_shift_digits``, :data:`forwardkit_datasets.config.STYLES`). Batches without ``domain`` get plain
classification metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from forwardkit.tasks import Classification
from forwardkit_datasets.config import STYLES, StyleShiftConfig

__all__ = ["StyleShift", "per_domain_accuracy"]


def per_domain_accuracy(
    logits: Tensor, y: Tensor, domain: Tensor, names: Sequence[str] = STYLES
) -> dict[str, tuple[float, int]]:
    """``{"accuracy_<name>": (correct, count)}`` for every domain index present in ``domain``, named by
    ``names[index]`` (``domain<index>`` when ``names`` has no entry); ``logits`` ``(B, K)``, ``y`` and
    ``domain`` ``(B,)``."""
    correct = logits.argmax(dim=-1) == y
    out = {}
    for d in torch.unique(domain).tolist():
        mask = domain == d
        name = names[int(d)] if 0 <= int(d) < len(names) else f"domain{int(d)}"
        out[f"accuracy_{name}"] = (float(correct[mask].sum()), int(mask.sum()))
    return out


class StyleShift(Classification):
    """Cross-entropy on logits ``(B, K)``; accuracy, top-k, and ``accuracy_<domain>`` per domain index
    (batches with a ``domain`` entry, as ``style_shift_digits`` yields)."""

    Config = StyleShiftConfig  # type: ignore[assignment]
    config: StyleShiftConfig

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``domain_names`` from the dataset's ``extra["styles"]`` (style_shift_digits sets it)."""
        styles = getattr(metadata, "extra", {}).get("styles")
        return {"domain_names": list(styles)} if styles else {}

    @property
    def domain_names(self) -> tuple[str, ...]:
        """Name of each domain index (``config.domain_names``, else :data:`STYLES`)."""
        names = self.config.domain_names
        return tuple(names) if names is not None else STYLES

    def metrics(self, output: Tensor, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        out = super().metrics(output, batch)
        if "domain" in batch:
            out.update(per_domain_accuracy(output, batch["y"], batch["domain"], self.domain_names))
        return out

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        """Random logits and labels of one random domain."""
        logits, batch = super().example(batch_size, generator=generator)
        d = int(torch.randint(0, len(self.domain_names), (1,), generator=generator))
        batch["domain"] = torch.full((batch_size,), d, dtype=torch.long)
        return logits, batch
