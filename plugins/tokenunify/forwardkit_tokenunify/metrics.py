"""EM segmentation metrics: boundary Dice, ARAND and VOI, as a task (``em_boundary``) and an analyzer
(``em_seg_metrics``).

The downstream task of the paper is neuron segmentation scored by VOI and ARAND. Here the network predicts a
membrane (boundary) logit per pixel; the predicted segmentation is the set of connected components (face
connectivity) of the predicted interior (``sigmoid(logit) < threshold``). ARAND is
``skimage.metrics.adapted_rand_error`` and VOI the sum of the two conditional entropies of
``skimage.metrics.variation_of_information``, both against the true instance labels with the membrane pixels
(label 0) ignored. Lower is better for both; 0 for a perfect prediction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.data import forward_batch
from forwardkit.interfaces import Analysis, Analyzer, Task
from forwardkit_tokenunify.config import EMBoundaryConfig, EMSegMetricsConfig


def boundary_dice(pred: np.ndarray | Tensor, target: np.ndarray | Tensor) -> float:
    """Dice of two boolean masks: ``2 |P & G| / (|P| + |G|)`` (1 when both are empty)."""
    p, g = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    total = int(p.sum() + g.sum())
    return 1.0 if total == 0 else 2.0 * float((p & g).sum()) / total


def instances_from_boundary(boundary: np.ndarray) -> np.ndarray:
    """Connected components (face connectivity) of the interior ``~boundary``; 0 on the boundary."""
    from skimage.measure import label

    return np.asarray(label(~np.asarray(boundary, dtype=bool), connectivity=1, background=0), dtype=np.int64)


def arand_voi(true_labels: np.ndarray, pred_labels: np.ndarray) -> tuple[float, float]:
    """``(ARAND, VOI)`` of a predicted segmentation against the true one, label 0 of the truth ignored."""
    from skimage.metrics import adapted_rand_error, variation_of_information

    true_labels = np.asarray(true_labels, dtype=np.int64)
    pred_labels = np.asarray(pred_labels, dtype=np.int64)
    if not (true_labels != 0).any():
        return 0.0, 0.0
    are = float(adapted_rand_error(true_labels, pred_labels, ignore_labels=(0,))[0])
    split, merge = variation_of_information(true_labels, pred_labels, ignore_labels=(0,))
    return are, float(split + merge)


def segmentation_scores(logits: Tensor, boundary: Tensor, labels: Tensor | None = None, *, threshold: float = 0.5,
                        instances: bool = True) -> dict[str, list[float]]:
    """Per-image ``dice`` (and ``arand``, ``voi`` with ``instances``) of boundary logits ``(B, *spatial, 1)`` or
    ``(B, *spatial)`` against the boundary mask ``(B, *spatial)``; true instances from ``labels`` ``(B, *spatial)``
    or, without them, the components of the true interior."""
    if logits.dim() == boundary.dim() + 1:
        logits = logits[..., 0]
    pred = (torch.sigmoid(logits.detach().float()) >= threshold).cpu().numpy()
    truth = (boundary.detach().cpu().numpy() > 0)
    out: dict[str, list[float]] = {"dice": [], "arand": [], "voi": []} if instances else {"dice": []}
    for i in range(pred.shape[0]):
        out["dice"].append(boundary_dice(pred[i], truth[i]))
        if instances:
            true_inst = labels[i].cpu().numpy() if labels is not None else instances_from_boundary(truth[i])
            are, voi = arand_voi(true_inst, instances_from_boundary(pred[i]))
            out["arand"].append(are)
            out["voi"].append(voi)
    return out


class EMBoundary(Task):
    """Membrane segmentation: logits ``(B, *spatial, 1)`` vs boundary masks ``y`` ``(B, *spatial)``."""

    Config = EMBoundaryConfig
    primary_metric = "dice"
    mode = "max"
    target_keys = ("y", "labels")

    def _logits(self, output: Tensor, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        y = batch["y"]
        logits = output[..., 0] if output.dim() == y.dim() + 1 else output
        if logits.shape != y.shape:
            raise ValueError(f"em_boundary: output {tuple(output.shape)} does not match the targets "
                             f"{tuple(y.shape)} (expected (B, *spatial, 1) logits)")
        return logits, y.float()

    def loss(self, output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        logits, y = self._logits(output, batch)
        weight = torch.tensor(self.config.pos_weight, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight)

    def metrics(self, output: Tensor, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        logits, y = self._logits(output, batch)
        weight = torch.tensor(self.config.pos_weight, device=logits.device)
        bce = F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight, reduction="sum")
        scores = segmentation_scores(logits, y, batch.get("labels"), threshold=self.config.threshold,
                                     instances=self.config.instance_metrics)
        n = int(y.shape[0])
        out = {"loss": (float(bce), int(y.numel()))}
        out.update({k: (float(sum(v)), n) for k, v in scores.items()})
        return out

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        logits = torch.randn(batch_size, 8, 8, 1, generator=generator)
        y = (torch.rand(batch_size, 8, 8, generator=generator) < 0.3).long()
        return logits, {"y": y}


class EMSegMetrics(Analyzer):
    """Boundary Dice, ARAND and VOI of a model's predictions on labelled batches (means over images)."""

    Config = EMSegMetricsConfig
    conformance_models = ({"name": "tokenunify_unet", "widths": [4, 8], "input_size": [8, 8],
                           "bottleneck_mixer": None},)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        cfg = self.config
        if data is None:
            example = getattr(model, "example_batch", None)
            if example is None:
                raise ValueError("em_seg_metrics needs labelled batches (x, y[, labels]) or a model with "
                                 "example_batch()")
            data = [example(4)]
        rows: list[dict[str, Any]] = []
        was = model.training
        model.eval()
        with torch.no_grad():
            for i, batch in enumerate(data):
                if cfg.max_batches is not None and i >= cfg.max_batches:
                    break
                if "y" not in batch:
                    raise ValueError(f"em_seg_metrics: batch {i} has no boundary mask 'y' (keys: {sorted(batch)})")
                logits = forward_batch(model, {**batch, "x": batch[cfg.input_key]})
                scores = segmentation_scores(logits, batch["y"], batch.get("labels"), threshold=cfg.threshold)
                for j in range(len(scores["dice"])):
                    rows.append({"image": len(rows), **{k: v[j] for k, v in scores.items()}})
        model.train(was)
        if not rows:
            raise ValueError("em_seg_metrics: no images to score")
        numbers = {k: float(np.mean([r[k] for r in rows])) for k in ("dice", "arand", "voi")}
        numbers["images"] = float(len(rows))
        return Analysis(numbers=numbers, tables={"per_image": rows})
