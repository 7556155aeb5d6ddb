"""Miniature reproduction of Combiner (paper Table 1): under the same architecture, Combiner-X beats its sparse base X
in bits/dim, and approaches full attention.

combiner-ar-tiny (d = 64, 4 heads, 2 pre-LN blocks) on quantised MNIST (mnist5k 4000 / 1000, 14 x 14, 8 grey
levels, raster order, L = 196, rows of 14), autoregressive NLL with teacher forcing, AdamW lr 3e-3, batch 64,
4 epochs, seeds 0-2. Arms differ only in the token mixer (and the 1-layer pair in depth). The card's pass bar
is transcribed into ``conditions`` before the first full run.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

METRIC = "test/bits_per_dim"

BASE: dict[str, Any] = {
    "data": {"name": "raster_digits", "source": "mnist5k", "pool": 2, "levels": 8, "val_fraction": 0.0,
             "test_fraction": 0.2, "seed": 0},
    "model": {"name": "combiner-ar-tiny", "dim": 64, "depth": 2, "num_heads": 4, "mlp_ratio": 4.0},
    "learning_rule": {"name": "backprop", "optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.01},
    "trainer": {"epochs": 4, "batch_size": 64, "checkpoint_every": 0, "eval_every": 0, "log_every": 50},
}

FULL = {"name": "attention", "causal": True, "proj_bias": False}
FIXED = {"name": "sparse_fixed_attention", "causal": True}
COMBINER_FIXED = {"name": "combiner_attention", "variant": "fixed", "causal": True}
AXIAL = {"name": "sparse_axial_attention", "causal": True}
COMBINER_AXIAL = {"name": "combiner_attention", "variant": "axial_rowmajor", "causal": True}

PAIRS = {"fixed": ("combiner_fixed", "fixed"), "axial": ("combiner_axial", "axial"),
         "fixed_1layer": ("combiner_fixed_1layer", "fixed_1layer")}

PASS_BAR = (
    "Prediction: Combiner-X < X for each pair, Combiner within ~0.05 bits/dim of Full. Pass bar: Combiner-X lower "
    "than X in >=2 of the pairs with mean gap larger than the pooled std. \"Does not reproduce at this scale\": "
    "Combiner-X >= X in all pairs. Report numbers whatever they are."
)


def _beats(pair: str) -> dict[str, Any]:
    method, baseline = PAIRS[pair]
    return {"kind": "std_rule", "method": method, "baseline": baseline, "test": "beats", "k": 1.0, "std": "pooled",
            "label": f"{pair} pair: Combiner-X lower than X by more than the pooled std"}


#: the card's ">= 2 of the pairs", a k-of-n condition over the three pairs
AT_LEAST_TWO_PAIRS: dict[str, Any] = {"kind": "any", "k": 2, "conditions": [_beats(p) for p in PAIRS],
                                      "label": "Combiner-X below X by more than the pooled std in >= 2 of the 3 pairs"}


SPEC = ReproductionSpec(
    paper="Combiner: Full Attention Transformer with Sparse Computation Cost",
    arxiv="2107.05768",
    claim="Converting a sparse attention pattern X into Combiner-X (full support, same sub-quadratic cost) lowers "
    "bits/dim under the same architecture, close to full attention.",
    paper_result="CIFAR-10, 6 layers (Table 1): Fixed 3.408 -> Combiner-Fixed 3.321, Axial 3.666 -> Combiner-Axial "
    "3.050, Logsparse 4.253 -> Combiner-Logsparse 3.366 bits/dim.",
    pass_bar=PASS_BAR,
    deviations=[
        "Scale: quantised 14x14 MNIST (8 levels, L = 196) and a 2-block d = 64 model for 4 epochs instead of CIFAR-10 "
        "/ ImageNet-64 with 6 layers, d = 512, 500k iterations.",
        "With std rules the verdict is 'does not reproduce' whenever at most one pair passes, where the card calls "
        "that middle ground inconclusive unless Combiner-X >= X in every pair; the per-arm means in the report let "
        "the card's rule be read off (the core has no separate 'does not reproduce' rule).",
        "Combiner-Axial is axial_rowmajor (Fig. 1(F), the official AxialRowmajor layer) with the paper's max-pooled "
        "region key (the official JAX code learns the key: row_key='learned' exists, not used here).",
        "The Fixed sparse baseline's summary column is the last token of each segment (the paper's 1-indexed "
        "'j mod s = 0'; Sparse Transformer's fixed pattern with c = 1); the Axial baseline is own row + own column.",
        "Full attention is the builtin 'attention' mixer (causal, proj_bias false): the same parameters as the "
        "Combiner and sparse mixers (no biases, 4 heads of 16).",
        "AdamW with weight decay 0.01 (PyTorch's AdamW default; the card names only AdamW 3e-3), constant lr.",
        "The Logsparse pair (card: 'behind a flag if time allows') is not an arm: the 7 arms already fill the "
        "budget. combiner_attention variant=logsparse and logsparse_attention are implemented and tested.",
    ],
    base=BASE,
    arms={
        "full": {"model": {"token_mixer": FULL}},
        "fixed": {"model": {"token_mixer": FIXED}},
        "combiner_fixed": {"model": {"token_mixer": COMBINER_FIXED}},
        "axial": {"model": {"token_mixer": AXIAL}},
        "combiner_axial": {"model": {"token_mixer": COMBINER_AXIAL}},
        "fixed_1layer": {"model": {"token_mixer": FIXED, "depth": 1}},
        "combiner_fixed_1layer": {"model": {"token_mixer": COMBINER_FIXED, "depth": 1}},
    },
    conditions=[AT_LEAST_TWO_PAIRS],
    metric=METRIC,
    direction="lower",
    smoke={"data": {"source": "digits", "pool": 1, "test_fraction": 0.1},
           "trainer": {"max_steps": 2, "epochs": 1, "batch_size": 32}},
    expected_minutes=12.0,
)
