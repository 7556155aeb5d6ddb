"""The miniature reproduction of PreCropping (torch-free: a ReproductionSpec).

SmallVGG (half the card's widths, for the CPU budget) on mnist5k (4000 train, 1000 test), Adam 1e-3,
batch 64, 5 epochs (315 steps), seeds 0-2. The arms are the card's (a)-(f) and differ only in the compressor
applied at initialisation (the trainer seeds everything first, so every arm starts from the same dense
weights of its seed):

* ``dense`` (a): no compression;
* ``pai_synflow`` (b): SynFlow's unstructured mask (dense shapes, dense cost);
* ``pai_synflow_shuffled`` (c): that mask permuted inside every layer (same nnz per layer);
* ``precropping`` (d): channels cropped to SynFlow's layer-wise densities (a narrower dense net);
* ``uniform_width`` (e): channels cropped with p_l = d everywhere (alpha ~ sqrt(d) on every hidden layer);
* ``pai_random`` (f): a random unstructured mask at uniform density d;

at d = 0.1, the same five compressed arms at d = 0.02 (``*_d002``, exploratory: the card reports them
without a bar), and ``precropping_resnet`` (SmallResNet cropped at d = 0.1, exploratory: exercises the
residual tie groups). Every compressor times its dense input and its output round-robin at batch 64 in the
run's own process (``latency_batch``), so the speed-up of (d) over (a) is measured inside the reproduction:
``compression/precropping/before/latency_ms`` is the dense model of the seed (arm (a)'s model at
initialisation), ``.../after/latency_ms`` the cropped one (arm (d)'s).

The conditions transcribe the card's pass bar (d = 0.1, mean over seeds, 90% paired t intervals):

1. |acc(d) - acc(b)| <= 1.5 points: equivalence of ``precropping`` and ``pai_synflow``, margin 0.015;
2. inference speed-up of (d) over (a) >= 2x at batch 64: a threshold on the per-seed ratio;
3. does not reproduce if (d) is more than 3 points worse than (b): non-inferiority, margin 0.03;
4. ... or worse than the uniform-scaling baseline (e): non-inferiority of (d) against (e), margin 0.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

DENSITY = 0.1
LOW_DENSITY = 0.02
WIDTHS = [16, 16, 32, 32, 64, 64]
#: every compressor times dense vs compressed at the card's batch 64, round-robin, 30 medians after 5 warm-ups
LATENCY = {"latency_batch": 64, "latency_warmup": 5, "latency_repeats": 30}
#: --smoke: 3 SynFlow rounds and 2 timed rounds, so that every compressed arm takes a fraction of a second
SMOKE_COMPRESSOR = {"iterations": 3, "latency_batch": 8, "latency_warmup": 1, "latency_repeats": 2}

#: the card's pass bar and "does not reproduce" sentence, word for word (papers/precropping.md)
PASS_BAR = (
    "Pass bar at d = 0.1 (mean over seeds): |acc(d) − acc(b)| ≤ 1.5 points; measured inference speed-up of (d) "  # noqa: RUF001
    "over (a) ≥ 2× at batch 64. At d = 0.02, report the numbers without a bar. Does not reproduce at this scale if "  # noqa: RUF001
    "(d) is more than 3 points worse than (b), or worse than the uniform-scaling baseline (e)."
)


def compressed_arms(density: float, suffix: str = "") -> dict[str, dict[str, Any]]:
    """Arms (b)-(f) at one global density ``d``."""
    def one(name: str, **cfg: Any) -> dict[str, Any]:
        return {"compressors": [{"name": name, "density": density, **cfg, **LATENCY}],
                "smoke": {"compressors": [{"name": name, "density": density, **cfg, **SMOKE_COMPRESSOR}]}}

    return {
        f"pai_synflow{suffix}": one("pai_mask", method="synflow"),
        f"pai_synflow_shuffled{suffix}": one("pai_mask", method="synflow", shuffle=True),
        f"precropping{suffix}": one("precropping", scorer="synflow"),
        f"uniform_width{suffix}": one("precropping", scorer="uniform"),
        f"pai_random{suffix}": one("pai_mask", method="random"),
    }


SPEED_UP = {"arm": "precropping", "metric": "compression/precropping/before/latency_ms",
            "over": {"metric": "compression/precropping/after/latency_ms"}}

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
    pass_bar=PASS_BAR,
    deviations=[
        "The `precropping` arm, whose compressor times the dense and the cropped model, runs exclusively (after "
        "every other arm, one run at a time with both cores), so that no other training run shares the machine "
        "while it is timed. (Spec history: the first run under conditions timed it beside another worker and "
        "measured dense latencies from 9.8 to 60 ms for the same model.)",
        "SmallVGG at half the card's widths (16-16-32-32-64-64, 72.7k parameters instead of 290k) for every arm: "
        "the card's 11 arm x density settings x 3 seeds at full width take about 35 CPU-minutes here, not the "
        "card's 3. The speed-up bar is therefore measured on the half-width (a) and (d); the card's full-width "
        "SmallVGG is timed separately by benchmarks/speed.py (reports/speed.json).",
        "Batch 64 for 5 epochs (315 steps) instead of batch 128 for 4 epochs, for every arm: a first full run "
        "with batch 128 (before results were kept in a history) left every d = 0.1 arm under-trained, with a seed "
        "spread of 10-20 points.",
        "Data: mnist5k with 4000 training and 1000 test digits as on the card (the earlier kept run used 3750 / "
        "250 validation / 1000).",
        "Latency with 1 thread per run (2 runs in parallel on the 2 shared cores), not the card's 2 threads; "
        "median of 30 round-robin rounds after 5 warm-ups, dense and compressed model in the same process.",
        "The cropping rule is the card's least squares plus a small even-split term (balance = 0.1), see README.",
        "SmallResNet is run at d = 0.1 with all 3 seeds (the harness runs every arm on every seed), not 1.",
        "Condition 4 ('worse than the uniform-scaling baseline (e)') is a non-inferiority test with margin 0: it "
        "reproduces when the interval of acc(d) - acc(e) lies at or above 0, fails when it lies below 0.",
    ],
    base={
        "name": "precropping-repro",
        "data": {"name": "mnist5k", "val_fraction": 0.0, "test_fraction": 0.2},
        "model": {"name": "small_vgg", "widths": WIDTHS},
        "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 1e-3},
        "trainer": {"epochs": 5, "batch_size": 64, "eval_every": 0, "checkpoint_every": 0},
    },
    arms={
        "dense": {},
        **compressed_arms(DENSITY),
        **compressed_arms(LOW_DENSITY, "_d002"),
        "precropping_resnet": {"model": {"name": "small_resnet", "widths": [16, 32, 64], "blocks": 2},
                               "compressors": [{"name": "precropping", "scorer": "synflow", "density": DENSITY,
                                                **LATENCY}],
                               "smoke": {"model": {"widths": [4, 8, 8]},
                                         "compressors": [{"name": "precropping", "scorer": "synflow",
                                                          "density": DENSITY, **SMOKE_COMPRESSOR}]}},
    },
    conditions=[
        {"kind": "compare", "method": "precropping", "baseline": "pai_synflow", "test": "equivalence",
         "margin": 0.015,
         "label": "Pass bar at d = 0.1 (mean over seeds): |acc(d) − acc(b)| ≤ 1.5 points"},  # noqa: RUF001
        {"kind": "threshold", "figure": SPEED_UP, "op": ">=", "value": 2.0,
         "label": "measured inference speed-up of (d) over (a) ≥ 2× at batch 64"},  # noqa: RUF001
        {"kind": "compare", "method": "precropping", "baseline": "pai_synflow", "test": "non_inferiority",
         "margin": 0.03, "label": "Does not reproduce at this scale if (d) is more than 3 points worse than (b)"},
        {"kind": "compare", "method": "precropping", "baseline": "uniform_width", "test": "non_inferiority",
         "margin": 0.0, "label": "[Does not reproduce at this scale if (d) is] ... worse than the uniform-scaling "
                                 "baseline (e)"},
    ],
    headline=0,
    metric="test/accuracy",
    direction="higher",
    level=0.90,
    paired=True,
    exclusive=["precropping"],
    seeds=[0, 1, 2],
    # smoke: 8x8 digits and 4-8 channels, so SynFlow, cropping and the batch-64 timing take milliseconds
    smoke={"trainer": {"max_steps": 3, "epochs": 1}, "data": {"name": "digits"},
           "model": {"widths": [4, 4, 8, 8, 8, 8]}},
    expected_minutes=8.0,
)
