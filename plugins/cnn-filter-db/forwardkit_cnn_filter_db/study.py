"""The card's wider zoo study: datasets x widths x seeds of tiny CNNs, their filter quality and shifts.

``python -m forwardkit_cnn_filter_db.study [--smoke] [--out DIR]`` trains a :class:`MiniFilterZoo`-style
zoo (``train_zoo``), then tests the card's two claims:

1. filter-distribution shift across datasets at the same depth is small compared with the shift
   between the first and the last layer of one model (the random-label control should shift more);
2. degeneration: sparsity rising with width and with little data (Spearman), and untrained layers
   looking random (normalised variance entropy ~ 1).

It writes ``study.json``, ``quality.csv``, ``shift.csv``, ``summary.md`` and plots into the output folder
(default ``plugins/cnn-filter-db/reports/study/`` in a checkout).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from forwardkit_cnn_filter_db.config import FilterQualityConfig, FilterShiftConfig, MiniFilterZooConfig
from forwardkit_cnn_filter_db.quality import layer_quality
from forwardkit_cnn_filter_db.shift import shift_matrix
from forwardkit_cnn_filter_db.zoo import ZooMember, train_zoo

FULL = {"datasets": ["digits", "mnist5k", "textures", "random_labels"], "widths": [4, 8, 16], "seeds": [0, 1, 2],
        "train_size": 2000, "small_train_size": 500, "epochs": 2, "image_size": 28}
SMOKE = {"datasets": ["digits", "textures", "random_labels"], "widths": [2, 3], "seeds": [0, 1],
         "train_size": 32, "small_train_size": 16, "epochs": 1, "image_size": 12}


def default_out() -> Path:
    return Path(__file__).resolve().parents[1] / "reports" / "study"


def _train(plan: dict[str, Any]) -> tuple[list[ZooMember], list[ZooMember]]:
    """The main zoo, and the small-data zoo (mnist5k, or the first real source, at small_train_size)."""
    common = {"widths": plan["widths"], "seeds": plan["seeds"], "epochs": plan["epochs"],
              "image_size": plan["image_size"], "include_untrained": True}
    zoo = train_zoo(MiniFilterZooConfig(datasets=plan["datasets"], train_size=plan["train_size"], **common))
    real = [d for d in plan["datasets"] if d != "random_labels"]
    source = "mnist5k" if "mnist5k" in real else real[0]
    small = train_zoo(MiniFilterZooConfig(datasets=[source], train_size=plan["small_train_size"], **common))
    return zoo, small


def quality_rows(members: Sequence[ZooMember], train_size: int) -> list[dict[str, Any]]:
    cfg = FilterQualityConfig()
    rows = []
    for m in members:
        for layer in m.table.layers:
            q = layer_quality(layer.weight, cfg)
            rows.append({"source": m.source, "width": m.width, "seed": m.seed, "trained": m.trained,
                         "train_size": train_size, "layer": layer.index, "n_filters": layer.n_filters,
                         **{k: q[k] for k in ("sparsity", "ve", "ve_norm", "orthogonality", "degenerate")}})
    return rows


def shift_rows(members: Sequence[ZooMember], datasets: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per (width, seed): one pooled shift matrix over (source, layer) groups of the trained models."""
    cfg = FilterShiftConfig()
    real = [d for d in datasets if d != "random_labels"]
    rows, matrices = [], {}
    keys = sorted({(m.width, m.seed) for m in members})
    for width, seed in keys:
        models = {m.source: m for m in members if m.trained and m.width == width and m.seed == seed}
        depth = min(len(m.table.layers) for m in models.values())
        groups = {f"{s}/L{i}": models[s].table.layers[i].filters for s in models for i in range(depth)}
        m = shift_matrix(groups, cfg)
        matrices[(width, seed)] = m
        last = depth - 1
        cross_data = [m.between(f"{a}/L{i}", f"{b}/L{i}") for a, b in combinations(real, 2) for i in range(depth)]
        cross_data_deep = [m.between(f"{a}/L{i}", f"{b}/L{i}") for a, b in combinations(real, 2)
                           for i in range(1, depth)]
        cross_depth = [m.between(f"{a}/L0", f"{a}/L{last}") for a in real]
        cross_depth_deep = [m.between(f"{a}/L1", f"{a}/L{last}") for a in real] if last > 1 else []
        control = [m.between(f"{a}/L{i}", f"random_labels/L{i}") for a in real for i in range(depth)
                   if "random_labels" in models]
        # the same depth comparison on the untrained copies: the floor of KDE noise and initialiser effects
        inits = {m.source: m for m in members if not m.trained and m.width == width and m.seed == seed
                 and m.source in real}
        floor = []
        if inits:
            mi = shift_matrix({f"{s}/L{i}": inits[s].table.layers[i].filters for s in inits for i in (0, 1, last)}, cfg)
            floor = [mi.between(f"{a}/L{1 if last > 1 else 0}", f"{a}/L{last}") for a in inits]
            floor0 = [mi.between(f"{a}/L0", f"{a}/L{last}") for a in inits]
        rows.append({"width": width, "seed": seed,
                     "cross_depth_untrained": float(np.mean(floor0)) if floor else float("nan"),
                     "cross_depth_deep_untrained": float(np.mean(floor)) if floor else float("nan"),
                     "cross_dataset": float(np.mean(cross_data)) if cross_data else float("nan"),
                     "cross_dataset_deep": float(np.mean(cross_data_deep)) if cross_data_deep else float("nan"),
                     "cross_depth": float(np.mean(cross_depth)),
                     "cross_depth_deep": float(np.mean(cross_depth_deep)) if cross_depth_deep else float("nan"),
                     "random_label_control": float(np.mean(control)) if control else float("nan")})
    return rows, matrices


def _spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(spearmanr(x, y).statistic)


def evaluate(quality: list[dict[str, Any]], small_quality: list[dict[str, Any]], shifts: list[dict[str, Any]],
             seeds: Sequence[int]) -> dict[str, Any]:
    """The card's pass bars, per seed, from the measured tables."""
    per_seed: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        s_rows = [r for r in shifts if r["seed"] == seed]
        cross_data = float(np.mean([r["cross_dataset"] for r in s_rows]))
        cross_depth = float(np.mean([r["cross_depth"] for r in s_rows]))
        deep_data = float(np.mean([r["cross_dataset_deep"] for r in s_rows]))
        deep_depth = float(np.mean([r["cross_depth_deep"] for r in s_rows]))
        floor0 = float(np.mean([r["cross_depth_untrained"] for r in s_rows]))
        floor1 = float(np.mean([r["cross_depth_deep_untrained"] for r in s_rows]))
        control = [r["random_label_control"] for r in s_rows if np.isfinite(r["random_label_control"])]
        trained = [r for r in quality if r["seed"] == seed and r["trained"] and r["source"] != "random_labels"]
        rho_width = _spearman([r["width"] for r in trained], [r["sparsity"] for r in trained])
        both = [r for r in trained + small_quality
                if r["seed"] == seed and r["trained"] and r["source"] == (small_quality[0]["source"]
                                                                         if small_quality else None)]
        rho_data = _spearman([1.0 / r["train_size"] for r in both], [r["sparsity"] for r in both])
        per_seed[seed] = {
            "cross_dataset": cross_data, "cross_depth": cross_depth,
            "cross_dataset_layers_1_on": deep_data, "cross_depth_layer1_vs_last": deep_depth,
            "untrained_cross_depth": floor0, "untrained_cross_depth_layer1_vs_last": floor1,
            "random_label_control": float(np.mean(control)) if control else None,
            "shift_claim_holds": cross_data < cross_depth,
            "depth_shift_above_untrained_floor": deep_depth > floor1,
            "spearman_sparsity_width": rho_width, "spearman_sparsity_inv_train_size": rho_data,
            "sparsity_claim_holds": bool(rho_width is not None and rho_width > 0
                                         and rho_data is not None and rho_data > 0),
        }
    untrained = [r["ve_norm"] for r in quality if not r["trained"] and r["n_filters"] >= 64]
    trained = [r["ve_norm"] for r in quality if r["trained"] and r["n_filters"] >= 64]
    n_shift = sum(v["shift_claim_holds"] for v in per_seed.values())
    n_sparse = sum(v["sparsity_claim_holds"] for v in per_seed.values())
    n_floor = sum(v["depth_shift_above_untrained_floor"] for v in per_seed.values())
    need = -(-2 * len(per_seed) // 3)
    return {
        "per_seed": per_seed,
        "shift_claim": f"{n_shift}/{len(per_seed)} seeds", "shift_claim_reproduces": n_shift >= need,
        "depth_shift_above_floor": f"{n_floor}/{len(per_seed)} seeds",
        "sparsity_claim": f"{n_sparse}/{len(per_seed)} seeds", "sparsity_claim_reproduces": n_sparse >= need,
        "mean_sparsity_trained": float(np.mean([r["sparsity"] for r in quality if r["trained"]])),
        "ve_norm_untrained_layers_ge64": float(np.mean(untrained)) if untrained else None,
        "ve_norm_trained_layers_ge64": float(np.mean(trained)) if trained else None,
    }


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _plots(out: Path, quality: list[dict[str, Any]], shifts: list[dict[str, Any]], matrices: dict[Any, Any]) -> None:
    from forwardkit_cnn_filter_db.plots import _plt, kl_heatmap

    plt = _plt()
    key = max(matrices)
    fig = kl_heatmap(matrices[key].symmetric, matrices[key].names,
                     title=f"symmetric weighted KL, width {key[0]}, seed {key[1]}")
    fig.savefig(out / "kl_matrix.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    widths = sorted({r["width"] for r in shifts})
    for name, marker in (("cross_dataset", "o"), ("cross_depth", "s"), ("random_label_control", "^")):
        vals = [np.nanmean([r[name] for r in shifts if r["width"] == w]) for w in widths]
        axes[0].plot(widths, vals, marker=marker, label=name)
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("width")
    axes[0].set_ylabel("weighted KL (sym.)")
    axes[0].legend(fontsize=7)
    axes[0].set_title("shift: across datasets vs across depth", fontsize=9)
    layers = sorted({r["layer"] for r in quality})
    for trained, style in ((True, "-"), (False, "--")):
        for source in sorted({r["source"] for r in quality}):
            vals = [np.mean([r["ve_norm"] for r in quality if r["layer"] == lay and r["trained"] == trained
                             and r["source"] == source] or [np.nan]) for lay in layers]
            axes[1].plot(layers, vals, style, marker="o", label=f"{source}{'' if trained else ' (init)'}")
    axes[1].set_xlabel("3x3 layer")
    axes[1].set_ylabel("normalised variance entropy")
    axes[1].legend(fontsize=6)
    axes[1].set_title("VE per layer: trained (solid) vs init (dashed)", fontsize=9)
    for source in sorted({r["source"] for r in quality}):
        vals = [np.mean([r["sparsity"] for r in quality if r["width"] == w and r["trained"] and r["source"] == source])
                for w in widths]
        axes[2].plot(widths, vals, marker="o", label=source)
    axes[2].set_xscale("log", base=2)
    axes[2].set_xlabel("width")
    axes[2].set_ylabel("mean sparsity")
    axes[2].legend(fontsize=7)
    axes[2].set_title("sparsity vs width (trained)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "study.png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def _summary(plan: dict[str, Any], verdict: dict[str, Any], seconds: float) -> str:
    lines = ["# cnn-filter-db zoo study", "",
             f"datasets {plan['datasets']}, widths {plan['widths']}, seeds {plan['seeds']}, "
             f"train_size {plan['train_size']} (small-data arm {plan['small_train_size']}), epochs {plan['epochs']}; "
             f"{seconds:.0f} s.", "",
             "| seed | cross-dataset KL | cross-depth KL (L0 vs last) | cross-dataset KL (layers >= 1) "
             "| cross-depth KL (L1 vs last) | untrained: L0 vs last / L1 vs last | random-label KL | shift claim "
             "| rho(sparsity, width) | rho(sparsity, 1/n) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for seed, v in verdict["per_seed"].items():
        def f(x: Any) -> str:
            return "n/a" if x is None else f"{x:.3f}"

        lines.append(f"| {seed} | {f(v['cross_dataset'])} | {f(v['cross_depth'])} "
                     f"| {f(v['cross_dataset_layers_1_on'])} | {f(v['cross_depth_layer1_vs_last'])} "
                     f"| {f(v['untrained_cross_depth'])} / {f(v['untrained_cross_depth_layer1_vs_last'])} "
                     f"| {f(v['random_label_control'])} "
                     f"| {'holds' if v['shift_claim_holds'] else 'fails'} | {f(v['spearman_sparsity_width'])} "
                     f"| {f(v['spearman_sparsity_inv_train_size'])} |")
    lines += ["", f"- shift claim (cross-dataset < cross-depth): {verdict['shift_claim']} -> "
                  f"{'reproduces' if verdict['shift_claim_reproduces'] else 'does not reproduce at this scale'}",
              f"- trained L1-vs-last shift above the untrained copies' floor: {verdict['depth_shift_above_floor']}",
              f"- sparsity claim (positive Spearman with width and 1/train_size): {verdict['sparsity_claim']} -> "
              f"{'reproduces' if verdict['sparsity_claim_reproduces'] else 'does not reproduce at this scale'} "
              f"(mean sparsity of trained layers {verdict['mean_sparsity_trained']:.4f})",
              f"- normalised VE of layers with >= 64 filters: untrained {verdict['ve_norm_untrained_layers_ge64']}, "
              f"trained {verdict['ve_norm_trained_layers_ge64']}", ""]
    return "\n".join(lines)


def run_study(plan: dict[str, Any], out: Path) -> dict[str, Any]:
    """Train the zoo of ``plan``, measure, write the files into ``out``; returns the verdict."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    zoo, small = _train(plan)
    quality = quality_rows(zoo, plan["train_size"])
    small_quality = quality_rows(small, plan["small_train_size"])
    shifts, matrices = shift_rows(zoo, plan["datasets"])
    verdict = evaluate(quality, small_quality, shifts, plan["seeds"])
    seconds = time.perf_counter() - start
    _write_csv(out / "quality.csv", quality + small_quality)
    _write_csv(out / "shift.csv", shifts)
    _plots(out, quality, shifts, matrices)
    members = [m.meta() | {"train_size": plan["train_size"]} for m in zoo]
    members += [m.meta() | {"train_size": plan["small_train_size"]} for m in small]
    (out / "study.json").write_text(json.dumps({"plan": plan, "verdict": verdict, "members": members,
                                                "seconds": seconds}, indent=2, default=str))
    (out / "summary.md").write_text(_summary(plan, verdict, seconds))
    return verdict


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny zoo, to check that the script works")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: reports/study)")
    args = parser.parse_args(argv)
    plan = dict(SMOKE if args.smoke else FULL)
    out = args.out or (default_out() if not args.smoke else Path("runs") / "cnn-filter-db-study-smoke")
    verdict = run_study(plan, out)
    print((out / "summary.md").read_text())
    print(f"written to {out}")
    return 0 if verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())
