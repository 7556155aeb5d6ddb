"""The miniature reproduction of IBN-Net (torch-free): plain ResNet vs IBN-a vs IBN-b on shifted digits.

The card's setup: the plugin's reference ``resnet_ibn`` (3x3 stem, stages [16, 32, 64, 128] x 2
BasicBlocks) as ``variant`` none / a / b (same widths, same init seed: the IBN variants are the plain
net rewritten by the ``ibn`` adapter, whose new norms start at weight 1, bias 0), trained on source-style
digits only (``style_shift_digits`` ``train``, 4000 digits) with SGD lr 0.05, momentum 0.9, cosine, 3
epochs, batch 128 and random crops of +-2 px (``random_pad_crop``). Figures: ``test/accuracy`` is the
target average (the ``test`` split holds the same 500 held-out digits once in each of the six target
styles, so the pooled accuracy equals the mean of the ``test/accuracy_<style>`` figures),
``val/accuracy`` the in-domain (source-style) accuracy on 500 other digits, and per stage the feature
divergence between source and texture renderings of the same 256 digits
(``analysis/feature_divergence/<layer>``).

The pass bar (the card's, word for word in ``pass_bar``): IBN-a >= plain + 3 points on the target
average (paired superiority, min_effect 0.03), IBN-a in-domain >= plain - 0.5 (paired non-inferiority,
margin 0.005), IBN-b >= plain + 3 on the target average, and the card's literal one-std rule beside
each target-average comparison.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

TARGET = "test/accuracy"
IN_DOMAIN = "val/accuracy"

PASS_BAR = (
    "Pass bar: IBN-a target average >= plain + 3 points and in-domain >= plain - 0.5; IBN-b target average >= "
    "plain + 3.\n"
    "\"Does not reproduce at this scale\" if neither variant beats plain on the target average by more than one std."
)

BASE: dict[str, Any] = {
    "data": {"name": "style_shift_digits"},
    "model": {"name": "resnet_ibn", "variant": "none", "widths": [16, 32, 64, 128], "blocks": 2},
    "learning_rule": {"name": "backprop", "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "schedule": "cosine"},
    "callbacks": [{"name": "random_pad_crop", "padding": 2}],
    "analyzers": [{"name": "feature_divergence", "render": True, "samples": 256}],
    "trainer": {"epochs": 3, "batch_size": 128},
}

SPEC = ReproductionSpec(
    paper="Two at Once: Enhancing Learning and Generalization Capacities via IBN-Net",
    arxiv="1807.09441",
    claim="IBN-a (IN on half the channels of the first norm of each shallow residual branch) improves "
    "generalisation to appearance-shifted domains without target data, at no extra cost, while keeping "
    "in-domain accuracy; IBN-b (IN after the addition in early blocks and the stem) improves appearance "
    "invariance further",
    paper_result="ResNet-50 ImageNet top-1 error 24.27 -> 22.54 (IBN-a, official README); cross-domain "
    "Cityscapes<->GTA5 gains (paper tables, not verified by the card). The card's miniature bar: IBN-a and "
    "IBN-b target average >= plain + 3 points, IBN-a in-domain >= plain - 0.5",
    pass_bar=PASS_BAR,
    deviations=[
        "Source test digits: the card says 4000 train / 1000 test; style_shift_digits keeps 4000 train digits, "
        "500 held-out source-style digits (val, the in-domain figure val/accuracy) and 500 other held-out digits "
        "rendered once in each of the six target styles (test, the target average test/accuracy). Same for "
        "every arm.",
        "Crop augmentation: +-2 px random shifts by the plugin's random_pad_crop callback, padding by repeating "
        "the border pixels (a pure shift on the plain source background; the card does not say how to pad). "
        "Same for every arm.",
        "The card's 'does not reproduce ... if neither variant beats plain on the target average by more than "
        "one std' is encoded literally as one 'any' condition over a std_rule per variant (std = pooled std of "
        "the two arms' seeds). (Spec history: the first declaration under conditions had the two rules as "
        "separate conditions, i.e. AND, stricter than the card's 'neither', because the harness had no OR yet; "
        "both rules held in that run, so the verdict did not depend on it.)",
    ],
    base=BASE,
    arms={
        "plain": {},
        "ibn_a": {"model": {"variant": "a"}},
        "ibn_b": {"model": {"variant": "b"}},
    },
    conditions=[
        {"kind": "compare", "method": "ibn_a", "baseline": "plain", "test": "superiority", "min_effect": 0.03,
         "metric": TARGET, "label": "IBN-a target average >= plain + 3 points"},
        {"kind": "compare", "method": "ibn_a", "baseline": "plain", "test": "non_inferiority", "margin": 0.005,
         "metric": IN_DOMAIN, "label": "and in-domain >= plain - 0.5"},
        {"kind": "compare", "method": "ibn_b", "baseline": "plain", "test": "superiority", "min_effect": 0.03,
         "metric": TARGET, "label": "IBN-b target average >= plain + 3"},
        {"kind": "any", "label": "\"Does not reproduce at this scale\" if neither variant beats plain on the "
         "target average by more than one std", "conditions": [
             {"kind": "std_rule", "method": "ibn_a", "baseline": "plain", "test": "beats", "k": 1.0,
              "std": "pooled", "metric": TARGET, "label": "IBN-a"},
             {"kind": "std_rule", "method": "ibn_b", "baseline": "plain", "test": "beats", "k": 1.0,
              "std": "pooled", "metric": TARGET, "label": "IBN-b"}]},
    ],
    headline=0,
    metric=TARGET,
    direction="higher",
    level=0.90,
    paired=True,
    seeds=[0, 1, 2],
    smoke={
        "data": {"n_samples": 300, "target_styles": ["brightness", "texture"]},
        "model": {"widths": [8, 8, 8, 8], "blocks": 1},
        "analyzers": [{"name": "feature_divergence", "render": True, "samples": 16}],
        "trainer": {"max_steps": 3, "epochs": 1, "batch_size": 32},
    },
    expected_minutes=15.0,
)
