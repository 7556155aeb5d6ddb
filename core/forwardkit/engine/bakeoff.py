"""The default job of ``forwardkit run``: a token-mixer bake-off.

The builtin ``metaformer`` is trained once per installed token mixer (every mixer that supports
images), on the same data, with the same budget and seed; the leaderboard reports test accuracy,
parameters, MACs per sample and training throughput, printed as a table and saved as
``results.json`` and ``leaderboard.png``.
"""

from __future__ import annotations

import functools
import json
import time
import traceback
from pathlib import Path
from typing import Any

from pydantic import Field

from forwardkit.config import ComponentConfig, TrainerConfig
from forwardkit.registry import Registry, default_registry


class BakeoffConfig(ComponentConfig):
    """What the bake-off trains; every field can be changed with ``forwardkit run --set field=value``."""

    name: str = "bakeoff"
    data: dict[str, Any] = Field(default_factory=lambda: {"name": "digits"},
                                 description="dataset spec; falls back to blobs images if digits is missing")
    model: dict[str, Any] = Field(
        default_factory=lambda: {"name": "metaformer", "depths": [1, 1, 2, 1], "dims": [16, 32, 48, 64],
                                 "stem_stride": 1, "norm": "layernorm_nobias"},
        description="metaformer config; token_mixers is set per entry",
    )
    mixers: list[str] | None = Field(None, description="token mixers to compare (None: every installed one)")
    mixer_configs: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"attention": {"head_dim": 16}},
        description="extra config per mixer name (e.g. attention head_dim for small widths)",
    )
    learning_rule: dict[str, Any] = Field(
        default_factory=lambda: {"name": "backprop", "optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.05,
                                 "schedule": "cosine", "warmup_epochs": 1})
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(epochs=12, batch_size=64, log_every=50))
    seed: int = 0


def _mixer_names(cfg: BakeoffConfig, registry: Registry) -> list[str]:
    if cfg.mixers is not None:
        for name in cfg.mixers:
            registry.get("token_mixer", name)  # unknown names fail early, with suggestions
        return list(cfg.mixers)
    names = []
    for info in registry.components("token_mixer"):
        try:
            takes_images = 2 in getattr(info.load(), "ranks", (2,))
        except Exception:  # a mixer that cannot even be imported is reported by its own run below
            takes_images = True
        if takes_images:
            names.append(info.name)
    return names


def _data_spec(cfg: BakeoffConfig, registry: Registry) -> dict[str, Any]:
    if ("dataset", str(cfg.data.get("name"))) in registry:
        return dict(cfg.data)
    return {"name": "blobs", "image_size": 8, "image_channels": 1, "num_classes": 10, "n_samples": 1800}


def run_bakeoff(cfg: BakeoffConfig | None = None, *, out_dir: Path | None = None, verbose: bool = True,
                registry: Registry | None = None) -> dict[str, Any]:
    """Train one metaformer per token mixer; write and return the leaderboard."""
    import torch

    from forwardkit.config import validate_experiment
    from forwardkit.engine.trainer import Trainer
    from forwardkit.interfaces.model import forward_batch
    from forwardkit.measure import count_macs, count_parameters

    cfg = cfg or BakeoffConfig()
    registry = registry or default_registry()
    out = Path(out_dir) if out_dir else Path(cfg.trainer.out_dir) / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    data = _data_spec(cfg, registry)
    rows: list[dict[str, Any]] = []
    for mixer in _mixer_names(cfg, registry):
        mixer_spec = {"name": mixer, **cfg.mixer_configs.get(mixer, {})}
        trainer_cfg = cfg.trainer.model_copy(update={"progress": "none" if not verbose else cfg.trainer.progress})
        exp = validate_experiment({
            "name": f"{cfg.name}-{mixer}", "data": data, "model": {**cfg.model, "token_mixers": mixer_spec},
            "learning_rule": cfg.learning_rule, "trainer": trainer_cfg.model_dump(), "seed": cfg.seed,
        }, registry=registry)
        row: dict[str, Any] = {"mixer": mixer, "plugin": registry.get("token_mixer", mixer).plugin}
        if verbose:
            print(f"\n== {mixer} ==", flush=True)
        try:
            trainer = Trainer(exp, run_dir=out / mixer, registry=registry, verbose=False)
            trainer.build()
            model = trainer.model
            sample = next(iter(trainer._sample_batches("test", 1)))
            one = {k: v[:1] for k, v in sample.items()}
            model.eval()
            row["macs_per_sample"] = count_macs(functools.partial(forward_batch, model, one))
            row["parameters"] = count_parameters(model)
            result = trainer.fit()
            row.update({
                "test_accuracy": result.final.get("test/accuracy"),
                "val_accuracy": result.final.get("val/accuracy"),
                "train_samples_per_s": result.train_samples_per_s,
                "seconds": result.seconds,
                "steps": result.steps,
            })
            if verbose:
                print(f"{mixer}: test accuracy {row['test_accuracy']:.4f} in {result.seconds:.1f}s", flush=True)
        except Exception as exc:  # one mixer that cannot run here must not end the bake-off
            row["error"] = f"{type(exc).__name__}: {exc}"
            row["traceback"] = traceback.format_exc(limit=3)
            if verbose:
                print(f"{mixer}: skipped ({row['error']})", flush=True)
        rows.append(row)
    ranked = sorted(rows, key=lambda r: -(r.get("test_accuracy") or -1.0))
    results = {"config": cfg.model_dump(mode="json"), "data": data, "torch": torch.__version__,
               "threads": torch.get_num_threads(), "leaderboard": ranked}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot_leaderboard(ranked, out / "leaderboard.png")
    if verbose:
        print(leaderboard_table(ranked))
        print(f"results: {out / 'results.json'}  chart: {out / 'leaderboard.png'}")
    results["out_dir"] = str(out)
    return results


def leaderboard_table(rows: list[dict[str, Any]]) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title="token-mixer bake-off (metaformer)", title_justify="left")
    for col in ("rank", "mixer", "plugin", "test acc", "params", "MACs/sample", "train samples/s", "s"):
        table.add_column(col, justify="right" if col not in ("mixer", "plugin") else "left")
    for i, r in enumerate(rows, 1):
        if "error" in r:
            table.add_row("-", r["mixer"], r["plugin"], "error", "", "", "", r["error"][:40])
            continue
        table.add_row(str(i), r["mixer"], r["plugin"], f"{r['test_accuracy']:.4f}", f"{r['parameters']:,}",
                      f"{r['macs_per_sample']:,}", f"{r['train_samples_per_s']:,.0f}", f"{r['seconds']:.1f}")
    buf = StringIO()
    Console(file=buf, width=120).print(table)
    return buf.getvalue()


def plot_leaderboard(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if "error" not in r]
    if not done:
        return
    fig, ax = plt.subplots(figsize=(1.2 * len(done) + 3, 3.5))
    bars = ax.bar([r["mixer"] for r in done], [r["test_accuracy"] for r in done], color="#4c72b0")
    for bar, r in zip(bars, done, strict=True):
        ax.annotate(f"{r['test_accuracy']:.3f}\n{r['parameters'] / 1e3:.0f}k p", (bar.get_x() + bar.get_width() / 2,
                    bar.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("test accuracy")
    low = min(r["test_accuracy"] for r in done)
    ax.set_ylim(max(0.0, low - 0.1), 1.02)
    ax.set_title("token-mixer bake-off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
