"""The paper's MNIST network (Ganin et al. 2016, Fig. 4a): the feature extractor G_f and the label predictor G_y.

``features`` (G_f): ``[conv5x5-c, ReLU, maxpool 2x2/2] x 2`` with c = 32, 48 (valid convolutions: 28 -> 24 -> 12
-> 8 -> 4, i.e. 48 x 4 x 4 = 768 features); ``classifier`` (G_y): FC100-ReLU-FC100-ReLU-FC10. The domain
classifier G_d is not part of it: the ``domain_adversarial_head`` adapter attaches it at ``features``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_dann.config import DannMnistCnnConfig

__all__ = ["DannMnistCnn"]


class DannMnistCnn(Model):
    """``dann_mnist_cnn``: channels-last images ``(B, H, W, C)`` -> logits ``(B, num_classes)``.

    The inputs are mean-subtracted first (``input_mean``, filled from the dataset's ``extra['pixel_mean']``:
    "inputs mean-subtracted", sec. 5.2.2), then permuted to channels-first for the convolutions.
    ``features(x)`` is the ``(B, c_last, h, w)`` map whose flattening is the tap of the domain head.
    """

    Config = DannMnistCnnConfig
    config: DannMnistCnnConfig
    input_mean: Tensor

    def __init__(self, config: DannMnistCnnConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        layers: list[nn.Module] = []
        channels, size = c.in_channels, c.image_size
        for width in c.conv_channels:
            layers += [nn.Conv2d(channels, width, c.kernel_size), nn.ReLU(), nn.MaxPool2d(2, 2)]
            channels, size = width, (size - c.kernel_size + 1) // 2
        self.features = nn.Sequential(*layers)
        self.feature_dim = channels * size * size
        head: list[nn.Module] = []
        width = self.feature_dim
        for hidden in c.hidden:
            head += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        head.append(nn.Linear(width, c.num_classes))
        self.classifier = nn.Sequential(*head)
        mean = torch.tensor(c.input_mean if c.input_mean is not None else [0.0] * c.in_channels)
        self.register_buffer("input_mean", mean.float(), persistent=False)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_channels``, ``num_classes``, and ``image_size`` (H of ``(H, W, C)``) and ``input_mean`` (the
        dataset's ``extra['pixel_mean']``, when it has one)."""
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3:
            out["image_size"] = shape[0]
        mean = getattr(metadata, "extra", {}).get("pixel_mean")
        if mean is not None and shape and len(mean) == shape[-1]:
            out["input_mean"] = [float(v) for v in mean]
        return out

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, H, W, C)`` -> logits ``(B, num_classes)``."""
        h = self.features((x - self.input_mean).permute(0, 3, 1, 2))
        return self.classifier(h.flatten(1))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        c = self.config
        x = torch.rand(batch_size, c.image_size, c.image_size, c.in_channels, generator=generator)
        return {"x": x, "y": torch.randint(0, c.num_classes, (batch_size,), generator=generator)}
