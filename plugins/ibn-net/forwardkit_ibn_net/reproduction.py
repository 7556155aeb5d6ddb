"""The miniature reproduction of IBN-Net (torch-free): plain ResNet vs the same with the ibn adapter.

Train on source-style digits only (StyleShiftDigits ``train``), measure the accuracy on the six
appearance-shifted target styles (``test/accuracy``, their average; ``test/accuracy_<style>`` each) and
in-domain (``val/accuracy``). Arms differ only in the ``adapters`` list: none (baseline), IBN-a
(method), IBN-b (extra arm). Every run also reports the per-stage feature divergence between source
and texture renderings of the same digits (``analysis/feature_divergence/<layer>``).
"""

from __future__ import annotations

from forwardkit.reproduce.spec import ReproductionSpec

SPEC = ReproductionSpec(
    paper="Two at Once: Enhancing Learning and Generalization Capacities via IBN-Net",
    arxiv="1807.09441",
    claim="IBN-a (IN on half the channels of the first norm of each shallow residual branch) improves "
    "generalisation to appearance-shifted domains without target data, at no extra cost, while keeping "
    "in-domain accuracy; IBN-b improves appearance invariance further",
    paper_result="ResNet-50 ImageNet top-1 error 24.27 -> 22.54 (IBN-a, official README); cross-domain "
    "Cityscapes<->GTA5 gains (paper tables, not verified by the card). Card pass bar for this miniature: "
    "IBN-a target average >= plain + 3 points",
    base={
        "data": {"name": "style_shift_digits"},
        "model": {"name": "resnet", "depth": 8, "width": 16},
        "learning_rule": {"name": "backprop", "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                          "weight_decay": 0.0005, "schedule": "cosine", "warmup_steps": 10},
        "analyzers": [{"name": "feature_divergence", "render": True, "samples": 256}],
        "trainer": {"epochs": 4, "batch_size": 128},
    },
    arms={
        "baseline": {},
        "method": {"adapters": [{"name": "ibn", "variant": "a"}]},
        "ibn_b": {"adapters": [{"name": "ibn", "variant": "b"}]},
    },
    baseline_arm="baseline",
    method_arm="method",
    metric="test/accuracy",
    direction="higher",
    min_effect=0.03,
    seeds=[0, 1, 2],
    smoke={
        "data": {"n_samples": 300, "target_styles": ["brightness", "texture"]},
        "analyzers": [{"name": "feature_divergence", "render": True, "samples": 16}],
        "trainer": {"max_steps": 3, "epochs": 1, "batch_size": 32},
    },
    expected_minutes=4.0,
)
