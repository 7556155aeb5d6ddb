"""The miniature reproduction of CNN Filter DB (torch-free; run by ``forwardkit reproduce cnn-filter-db``).

One program arm, ``zoo``: for each seed, :func:`forwardkit_cnn_filter_db.study.seed_study` trains that
seed's zoo (4 datasets x 4 widths of the 4-layer ``filter_cnn``, Adam 3 epochs on <= 4000 images, the
untrained copy of every model, and mnist5k again at 500 images), then measures every 3x3 layer and the
filter-distribution shifts. The conditions transcribe the card's pass bar:

1. shift ordering: across-dataset KL at the same depth < across-depth KL in the same model, in >= 2 of 3
   seeds (``seed_count``);
2. sparsity ordering: Spearman rho of sparsity with width > 0 in >= 2 of 3 seeds, and
3. with 1 / train_size > 0 in >= 2 of 3 seeds ("both ordering claims hold in >= 2 of 3 seeds");
4. "does not reproduce: dataset shift >= depth shift": the per-seed ratio cross-dataset / cross-depth KL
   below 1 on its 90% t interval (``threshold``);
5. "or no width trend": the mean Spearman rho of sparsity with width above 0 on its interval.

The random-label control, the untrained H_norm and the shifts without the first layer are reported (the
arm's figures in results.json) without a condition: the card lists them as expectations, not as its bar.
"""

from __future__ import annotations

from forwardkit.reproduce.spec import ReproductionSpec

#: the card's "Expected" and pass-bar sentences, word for word (papers/cnn-filter-db.md, "Miniature reproduction")
PASS_BAR = (
    "Expected: across-dataset KL at the same depth < across-depth KL in the same model for >= 2/3 seeds "
    "(random-label control should shift more); sparsity rises with width (positive Spearman) and with small train "
    "size; untrained layers H_norm ~ 1. Pass bar: both ordering claims hold in >= 2 of 3 seeds. \"Does not "
    "reproduce at this scale\": dataset shift >= depth shift, or no width trend."
)

ZOO = {
    "datasets": ["digits", "mnist5k", "textures", "random_labels"],
    "widths": [8, 16, 32, 64],
    "depth": 4,
    "train_size": 4000,
    "small_train_size": 500,
    "small_source": "mnist5k",
    "image_size": 28,
    "epochs": 3,
    "batch_size": 64,
    "lr": 3e-3,
    "min_filters_ve": 64,
}


def _zoo(metric: str) -> dict[str, str]:
    return {"arm": "zoo", "metric": metric}


SPEC = ReproductionSpec(
    paper="CNN Filter DB: An Empirical Investigation of Trained Convolutional Filters",
    arxiv="2203.15331",
    claim=(
        "Filter distributions shift little across datasets but strongly with depth (Sec. 4); degeneration "
        "(sparse, random-like filters) is more common in overparameterised layers and with little data, and "
        "untrained layers look random (Sec. 5)."
    ),
    paper_result=(
        "qualitative (abstract, 1.4 billion filters of hundreds of public models): the shift across datasets and "
        "tasks is small compared with the shift across layer depth and architecture; many public models hold "
        "degenerated (sparse, low-diversity or noise-like) layers"
    ),
    pass_bar=PASS_BAR,
    deviations=[
        "Zoo as on the card (digits, mnist5k, textures, random-label mnist5k; widths 8, 16, 32, 64; 4 layers; Adam "
        "3 epochs; seeds 0, 1, 2) except: '<= 4000 images' is what each source has: mnist5k and its random-label "
        "copy hold 3500 training digits, digits 1259 images at their native 8x8 (not 28x28), textures 4000 crops "
        "of 28x28. The card's train_sizes (500, 4000) are applied to mnist5k only (the small-data copy is 4 more "
        "models, not 16), so the data-size Spearman uses mnist5k's layers at 3500 vs 500 images.",
        "Adam lr 3e-3, batch 64, no weight decay (the card names no learning rate); the zoo is trained by the "
        "plugin's compact Adam loop (train_zoo), not by the forwardkit trainer.",
        "The weighted KL (explained-variance weights, one 1-D Silverman KDE per principal component, eps 1e-10) "
        "is the card's recollection of the paper's formula; figures are the symmetric mean of both directions, "
        "averaged over the 4 widths (and dataset pairs, layers).",
        "'Depth shift' is D(first 3x3 layer || last 3x3 layer) of one model (the card's 'layer 1 vs layer 4'); "
        "'dataset shift' averages all pairs of the three real datasets over all four layers. The first layer has "
        "only `width` filters (8-64), so its KDE is noisy; the same shifts without the first layer and on the "
        "untrained copies are reported as figures without a condition.",
        "Spearman's rho is defined as 0 (no trend) when sparsity is constant over the rows (e.g. no sparse filter "
        "at all), where scipy's rho is undefined; the width rho uses the trained layers of the three real datasets "
        "(the random-label control left out).",
        "The earlier declared reproduction (one model, untrained vs 3 epochs on the deepest layer's normalised "
        "variance entropy) is dropped: H_norm of untrained layers is ~1 by construction of tau(N). It stays in "
        "the report's history.",
    ],
    arms={"zoo": {"program": "forwardkit_cnn_filter_db.study:seed_study", "config": ZOO,
                  "smoke": {"datasets": ["digits", "textures", "random_labels"], "widths": [2, 3],
                            "train_size": 32, "small_train_size": 16, "small_source": "digits", "epochs": 1,
                            "image_size": 12, "min_filters_ve": 4}}},
    conditions=[
        {"kind": "seed_count", "left": _zoo("cross_dataset_kl"), "op": "<", "right": _zoo("cross_depth_kl"), "k": 2,
         "label": "across-dataset KL at the same depth < across-depth KL in the same model for >= 2/3 seeds "
                  "(pass bar: both ordering claims hold in >= 2 of 3 seeds)"},
        {"kind": "seed_count", "left": _zoo("spearman_sparsity_width"), "op": ">", "right": 0.0, "k": 2,
         "label": "sparsity rises with width (positive Spearman), in >= 2 of 3 seeds"},
        {"kind": "seed_count", "left": _zoo("spearman_sparsity_inv_train_size"), "op": ">", "right": 0.0, "k": 2,
         "label": "[sparsity rises] with small train size (positive Spearman with 1/train_size), in >= 2 of 3 seeds"},
        {"kind": "threshold", "figure": {"arm": "zoo", "metric": "cross_dataset_kl",
                                         "over": {"metric": "cross_depth_kl"}}, "op": "<", "value": 1.0,
         "label": "\"Does not reproduce at this scale\": dataset shift >= depth shift"},
        {"kind": "threshold", "figure": _zoo("spearman_sparsity_width"), "op": ">", "value": 0.0,
         "label": "[\"Does not reproduce at this scale\":] or no width trend"},
    ],
    headline=0,
    metric="cross_dataset_kl",
    direction="lower",
    level=0.90,
    paired=True,
    seeds=[0, 1, 2],
    expected_minutes=12.0,
)
