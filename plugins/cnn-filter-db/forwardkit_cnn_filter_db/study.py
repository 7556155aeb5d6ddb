"""The card's zoo study, one seed at a time: the ``zoo`` program arm of ``forwardkit reproduce cnn-filter-db``.

For one seed, :func:`seed_study` trains that seed's :class:`MiniFilterZoo` (every dataset x width, each
with its untrained copy, plus the small-data copies of one source), measures every 3x3 layer with
``layer_quality`` (paper Sec. 5) and the filter-distribution shifts with ``shift_matrix`` (Sec. 4), and
returns the per-seed figures the spec's conditions read:

* ``cross_dataset_kl``: symmetric weighted KL ``D(A, l || B, l)`` between two real datasets at the same
  3x3 layer ``l``, averaged over dataset pairs, layers and widths;
* ``cross_depth_kl``: ``D(first layer || last layer)`` inside one model (the card: "layer 1 vs layer 4"),
  averaged over the real datasets and widths;
* ``random_label_kl``: ``D(A, l || random labels, l)``, the control (card: "should shift more");
* ``spearman_sparsity_width`` and ``spearman_sparsity_inv_train_size``: Spearman's rho of the per-layer
  sparsity with the model width, and with ``1 / train_size`` (main zoo vs small-data zoo of
  ``small_source``); 0 when either variable is constant (no trend, e.g. no sparse filter at all);
* ``ve_norm_untrained`` / ``ve_norm_trained``: mean H_norm of layers with >= ``min_filters_ve`` filters;
* side figures: the same shifts without the first layer (``*_deep``), the shifts of the untrained copies
  (the KDE and initialiser floor), per-width shifts, mean sparsity, training accuracy.

The verdict lives only in the spec (``forwardkit_cnn_filter_db.reproduction``). The command line,
``python -m forwardkit_cnn_filter_db.study --seed 0 --out DIR [--smoke]``, runs the same function for one
seed and writes its tables (``quality.csv``, ``shift.csv``) and figures for inspection; it judges nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from forwardkit_cnn_filter_db.config import (
    FilterQualityConfig,
    FilterShiftConfig,
    MiniFilterZooConfig,
    ZooStudyConfig,
)
from forwardkit_cnn_filter_db.quality import layer_quality
from forwardkit_cnn_filter_db.shift import ShiftMatrix, shift_matrix
from forwardkit_cnn_filter_db.zoo import ZooMember, source_images, train_zoo

#: the smoke configuration of the program arm (seconds): tiny CNNs, a few images
SMOKE: dict[str, Any] = {"datasets": ["digits", "textures", "random_labels"], "widths": [2, 3], "train_size": 32,
                         "small_train_size": 16, "small_source": "digits", "epochs": 1, "image_size": 12,
                         "min_filters_ve": 4}
CONTROL = "random_labels"


@dataclass
class SeedZoo:
    """Everything one seed's study measured: quality rows, shift rows, shift matrices, figures."""

    seed: int
    quality: list[dict[str, Any]]
    shifts: list[dict[str, Any]]
    matrices: dict[int, ShiftMatrix]
    figures: dict[str, float]


def train_seed_zoo(cfg: ZooStudyConfig, seed: int) -> tuple[list[ZooMember], list[ZooMember]]:
    """The main zoo (trained + untrained copies) and the small-data zoo (trained only) of one seed."""
    common = {"widths": cfg.widths, "depth": cfg.depth, "seeds": [seed], "epochs": cfg.epochs,
              "image_size": cfg.image_size, "batch_size": cfg.batch_size, "lr": cfg.lr}
    zoo = train_zoo(MiniFilterZooConfig(datasets=cfg.datasets, train_size=cfg.train_size, include_untrained=True,
                                        **common))
    small = train_zoo(MiniFilterZooConfig(datasets=[cfg.small_source], train_size=cfg.small_train_size,
                                          include_untrained=False, **common))
    return zoo, small


def images_used(source: str, train_size: int, image_size: int) -> int:
    """How many training images a zoo model of ``source`` really saw (sources may hold fewer)."""
    return len(source_images(source, train_size, image_size)[0])


def quality_rows(members: Sequence[ZooMember], train_size: int, zoo: str) -> list[dict[str, Any]]:
    """One row per (member, 3x3 layer): sparsity, variance entropy (raw, normalised), orthogonality."""
    cfg = FilterQualityConfig()
    rows = []
    for m in members:
        for layer in m.table.layers:
            q = layer_quality(layer.weight, cfg)
            rows.append({"zoo": zoo, "source": m.source, "width": m.width, "seed": m.seed, "trained": m.trained,
                         "train_size": train_size, "layer": layer.index, "n_filters": layer.n_filters,
                         **{k: q[k] for k in ("sparsity", "ve", "ve_norm", "orthogonality", "degenerate")}})
    return rows


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def width_shifts(members: Sequence[ZooMember], width: int, real: Sequence[str], depth: int,
                 cfg: FilterShiftConfig) -> tuple[dict[str, Any], ShiftMatrix]:
    """The shift figures of one width: one pooled PCA over every (source, layer) group of the trained models.

    Symmetric weighted KL ``(D(P||Q) + D(Q||P)) / 2`` with ``D = sum_i rho_i KL(p_i || q_i)`` (card, Mechanism).
    """
    trained = {m.source: m for m in members if m.trained and m.width == width}
    m = shift_matrix({f"{s}/L{i}": trained[s].table.layers[i].filters for s in trained for i in range(depth)}, cfg)
    last = depth - 1
    pairs = list(combinations(real, 2))
    row = {
        "width": width,
        "cross_dataset_kl": _mean([m.between(f"{a}/L{i}", f"{b}/L{i}") for a, b in pairs for i in range(depth)]),
        "cross_depth_kl": _mean([m.between(f"{a}/L0", f"{a}/L{last}") for a in real]),
        "cross_dataset_kl_deep": _mean([m.between(f"{a}/L{i}", f"{b}/L{i}") for a, b in pairs
                                        for i in range(1, depth)]),
        "cross_depth_kl_deep": _mean([m.between(f"{a}/L1", f"{a}/L{last}") for a in real]),
        "random_label_kl": _mean([m.between(f"{a}/L{i}", f"{CONTROL}/L{i}") for a in real for i in range(depth)]
                                 if CONTROL in trained else []),
    }
    inits = {m.source: m for m in members if not m.trained and m.width == width and m.source in real}
    mi = shift_matrix({f"{s}/L{i}": inits[s].table.layers[i].filters for s in inits for i in (0, 1, last)}, cfg)
    row["untrained_cross_depth_kl"] = _mean([mi.between(f"{a}/L0", f"{a}/L{last}") for a in inits])
    row["untrained_cross_depth_kl_deep"] = _mean([mi.between(f"{a}/L1", f"{a}/L{last}") for a in inits])
    return row, m


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho; 0 (no monotone trend) when either variable is constant, where rho is undefined."""
    from scipy.stats import spearmanr

    if len(set(x)) < 2 or len(set(y)) < 2:
        return 0.0
    return float(spearmanr(x, y).statistic)


def seed_figures(cfg: ZooStudyConfig, quality: Sequence[Mapping[str, Any]], shifts: Sequence[Mapping[str, Any]],
                 accuracy: Sequence[float]) -> dict[str, float]:
    """The per-seed figures of the module docstring, from the quality and shift rows of one seed."""
    figs: dict[str, float] = {}
    for key in ("cross_dataset_kl", "cross_depth_kl", "random_label_kl", "cross_dataset_kl_deep",
                "cross_depth_kl_deep", "untrained_cross_depth_kl", "untrained_cross_depth_kl_deep"):
        figs[key] = _mean([r[key] for r in shifts])
    for r in shifts:
        figs[f"cross_dataset_kl/width{r['width']}"] = r["cross_dataset_kl"]
        figs[f"cross_depth_kl/width{r['width']}"] = r["cross_depth_kl"]
    main = [r for r in quality if r["zoo"] == "main" and r["trained"] and r["source"] != CONTROL]
    figs["spearman_sparsity_width"] = spearman([r["width"] for r in main], [r["sparsity"] for r in main])
    data = [r for r in quality if r["trained"] and r["source"] == cfg.small_source]
    figs["spearman_sparsity_inv_train_size"] = spearman([1.0 / r["train_size"] for r in data],
                                                        [r["sparsity"] for r in data])
    trained = [r for r in quality if r["trained"]]
    figs["sparsity_trained_mean"] = _mean([r["sparsity"] for r in trained])
    figs["sparse_layers_trained"] = float(sum(r["sparsity"] > 0 for r in trained))
    for state, flag in (("trained", True), ("untrained", False)):
        rows = [r for r in quality if r["zoo"] == "main" and r["trained"] is flag]
        figs[f"ve_norm_{state}"] = _mean([r["ve_norm"] for r in rows if r["n_filters"] >= cfg.min_filters_ve])
        figs[f"ve_norm_{state}_last"] = _mean([r["ve_norm"] for r in rows if r["layer"] == cfg.depth - 1])
    figs["train_accuracy_real"] = _mean(list(accuracy))
    return figs


def measure_seed(cfg: ZooStudyConfig, seed: int) -> SeedZoo:
    """Train one seed's zoos and measure them (quality of every layer, shifts per width, the figures)."""
    zoo, small = train_seed_zoo(cfg, seed)
    n_main = {s: images_used(s, cfg.train_size, cfg.image_size) for s in cfg.datasets}
    n_small = images_used(cfg.small_source, cfg.small_train_size, cfg.image_size)
    quality = [row for s in cfg.datasets for row in quality_rows([m for m in zoo if m.source == s], n_main[s], "main")]
    quality += quality_rows(small, n_small, "small")
    real = [d for d in cfg.datasets if d != CONTROL]
    shift_cfg = FilterShiftConfig()
    shifts, matrices = [], {}
    for width in cfg.widths:
        row, matrix = width_shifts(zoo, width, real, cfg.depth, shift_cfg)
        shifts.append({"seed": seed, **row})
        matrices[width] = matrix
    accuracy = [m.stats["train_accuracy"] for m in zoo if m.trained and m.source in real]
    return SeedZoo(seed, quality, shifts, matrices, seed_figures(cfg, quality, shifts, accuracy))


def seed_study(config: Mapping[str, Any], *, seed: int, smoke: bool = False) -> dict[str, float]:
    """The ``zoo`` program arm: one seed's figures (``smoke`` is applied by the spec's smoke config)."""
    del smoke  # the spec's smoke overrides already shrink the zoo
    return measure_seed(ZooStudyConfig(**dict(config)), seed).figures


# ---- inspection (no verdict) ----------------------------------------------------------------------------
def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def plot_seed(result: SeedZoo, out: Path) -> None:
    """``kl_matrix.png`` (widest model) and ``zoo.png`` (shift vs width, H_norm per layer, sparsity vs width)."""
    from forwardkit_cnn_filter_db.plots import _plt, kl_heatmap

    plt = _plt()
    width = max(result.matrices)
    fig = kl_heatmap(result.matrices[width].symmetric, result.matrices[width].names,
                     title=f"symmetric weighted KL, width {width}, seed {result.seed}")
    fig.savefig(out / "kl_matrix.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    widths = [r["width"] for r in result.shifts]
    for name, marker in (("cross_dataset_kl", "o"), ("cross_depth_kl", "s"), ("random_label_kl", "^")):
        axes[0].plot(widths, [r[name] for r in result.shifts], marker=marker, label=name)
    axes[0].set(xscale="log", xlabel="width", ylabel="weighted KL (sym.)")
    axes[0].legend(fontsize=7)
    main = [r for r in result.quality if r["zoo"] == "main"]
    layers = sorted({r["layer"] for r in main})
    for trained, style in ((True, "-"), (False, "--")):
        for source in sorted({r["source"] for r in main}):
            vals = [_mean([r["ve_norm"] for r in main if r["layer"] == lay and r["trained"] is trained
                           and r["source"] == source]) for lay in layers]
            axes[1].plot(layers, vals, style, marker="o", label=f"{source}{'' if trained else ' (init)'}")
    axes[1].set(xlabel="3x3 layer", ylabel="normalised variance entropy")
    axes[1].legend(fontsize=6)
    for source in sorted({r["source"] for r in main}):
        vals = [_mean([r["sparsity"] for r in main if r["width"] == w and r["trained"] and r["source"] == source])
                for w in widths]
        axes[2].plot(widths, vals, marker="o", label=source)
    axes[2].set(xscale="log", xlabel="width", ylabel="mean sparsity (trained)")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "zoo.png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one seed of the study and write its tables and figures to ``--out`` (for inspection only)."""
    parser = argparse.ArgumentParser(description="One seed of the cnn-filter-db zoo study, for inspection. "
                                     "The verdict: forwardkit reproduce cnn-filter-db.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="the spec's smoke zoo (seconds)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/cnn-filter-db-zoo-s<seed>)")
    args = parser.parse_args(argv)
    from forwardkit_cnn_filter_db.reproduction import SPEC

    _, config = SPEC.program_config("zoo", smoke=args.smoke)
    result = measure_seed(ZooStudyConfig(**config), args.seed)
    out = args.out or Path("runs") / f"cnn-filter-db-zoo-s{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "quality.csv", result.quality)
    _write_csv(out / "shift.csv", result.shifts)
    (out / "figures.json").write_text(json.dumps(result.figures, indent=2))
    plot_seed(result, out)
    print(json.dumps(result.figures, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
