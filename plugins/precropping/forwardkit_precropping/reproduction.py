"""The miniature reproduction of PreCropping (torch-free: a ReproductionSpec).

SmallVGG (half the card's widths, for the CPU budget) on 3750 real MNIST digits (1000 test), Adam 1e-3,
batch 64, 5 epochs (~295 steps), seeds 0-2, global density d = 0.1 for every pruned arm. (A first run with
batch 128 and 3 epochs left every d = 0.1 arm under-trained, with a seed spread of 10-20 points.)
The arms differ only in the compressor applied at initialisation:

* ``dense``: no compression;
* ``pai_synflow``: SynFlow's unstructured mask (the baseline; dense shapes, dense cost);
* ``precropping``: channels cropped to SynFlow's layer-wise densities (the method; a narrower dense net);
* ``uniform_width``: channels cropped with p_l = d everywhere (uniform width scaling, alpha ~ sqrt(d)).

Declared comparison: precropping against pai_synflow on test accuracy, as a non-inferiority claim with
the card's margin of 1.5 points: v1's claim is parity ("accuracy is not sacrificed"), so the method must be
at most 0.015 worse than the unstructured mask even after subtracting the pooled seed spread; it does not
reproduce when it is worse by more than the margin plus the spread, and is inconclusive in between.
"""

from __future__ import annotations

from forwardkit.reproduce.spec import ReproductionSpec

DENSITY = 0.1
WIDTHS = [16, 16, 32, 32, 64, 64]

SPEC = ReproductionSpec(
    paper="Structured Pruning is All You Need for Pruning CNNs at Initialization",
    arxiv="2203.02549",
    claim=(
        "Cropping whole channels at initialisation to the layer-wise densities of a pruning-at-initialisation "
        "method (SynFlow) gives a narrower dense CNN whose accuracy is not sacrificed compared with the "
        "unstructured SynFlow mask at the same parameter count (d = 0.1), while being really cheaper to run."
    ),
    paper_result=(
        "v1 abstract: accuracy not sacrificed vs weight-level PAI (no numbers); later version (PreCrop): "
        "up to +2.7% top-1 over the best PAI method for MobileNetV2 on ImageNet"
    ),
    base={
        "name": "precropping-repro",
        "data": {"name": "mnist5k", "val_fraction": 0.05, "test_fraction": 0.2},
        "model": {"name": "small_vgg", "widths": WIDTHS},
        "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 1e-3},
        "trainer": {"epochs": 5, "batch_size": 64, "eval_every": 0, "checkpoint_every": 0},
    },
    arms={
        "dense": {},
        "pai_synflow": {"compressors": [{"name": "pai_mask", "method": "synflow", "density": DENSITY}]},
        "precropping": {"compressors": [{"name": "precropping", "scorer": "synflow", "density": DENSITY}]},
        "uniform_width": {"compressors": [{"name": "precropping", "scorer": "uniform", "density": DENSITY}]},
    },
    baseline_arm="pai_synflow",
    method_arm="precropping",
    metric="test/accuracy",
    direction="higher",
    claim_type="non_inferiority",
    margin=0.015,
    seeds=[0, 1, 2],
    smoke={"trainer": {"max_steps": 3, "epochs": 1}},
    expected_minutes=6.0,
)
