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
    workers: int | None = Field(None, ge=1, description="parallel processes, one mixer each (None: one per core); "
                                "each gets cores // workers threads")


def bakeoff_mixers(cfg: BakeoffConfig, registry: Registry) -> list[str]:
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


def train_entry(mixer: str, experiment: dict[str, Any], run_dir: Path, threads: int | None = None,
                registry: Registry | None = None) -> dict[str, Any]:
    """Train one bake-off entry; its leaderboard row (``error`` and ``traceback`` when it failed)."""
    import torch

    from forwardkit.engine.trainer import Trainer
    from forwardkit.interfaces.model import forward_batch
    from forwardkit.measure import count_macs, count_parameters

    if threads is not None:
        torch.set_num_threads(threads)
    registry = registry or default_registry()
    row: dict[str, Any] = {"mixer": mixer, "plugin": registry.get("token_mixer", mixer).plugin}
    try:
        trainer = Trainer(experiment, run_dir=run_dir, registry=registry, verbose=False)
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
    except Exception as exc:  # one mixer that cannot run here must not end the bake-off
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=3)
    return row


def run_bakeoff(cfg: BakeoffConfig | None = None, *, out_dir: Path | None = None, verbose: bool = True,
                registry: Registry | None = None, backend: str = "local", address: str | None = None,
                fresh: bool = False) -> dict[str, Any]:
    """Train one metaformer per token mixer (in parallel processes, see ``workers``, or as Ray tasks with
    ``backend="ray"`` on the cluster at ``address``); write and return the leaderboard.

    Each entry that trains to the end is recorded in the bake-off's journal (``out_dir/.journal``, or
    ``<trainer.out_dir>/.journal/<name>-<hash of the config>`` without ``out_dir``): a bake-off that was
    interrupted and is started again with the same config skips those entries (``fresh`` starts over).
    The journal is deleted once the leaderboard is written."""
    import torch

    from forwardkit.config import validate_experiment
    from forwardkit.journal import RunJournal, run_key
    from forwardkit.parallel import in_process, plan_workers, run_parallel, task_resources

    cfg = cfg or BakeoffConfig()
    registry = registry or default_registry()
    out = Path(out_dir) if out_dir else Path(cfg.trainer.out_dir) / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    data = _data_spec(cfg, registry)
    mixers = bakeoff_mixers(cfg, registry)
    trainer_cfg = cfg.trainer.model_copy(update={"progress": "none"}).model_dump()
    experiments = []
    for mixer in mixers:  # every entry validates before anything trains
        mixer_spec = {"name": mixer, **cfg.mixer_configs.get(mixer, {})}
        exp = {"name": f"{cfg.name}-{mixer}", "data": data, "model": {**cfg.model, "token_mixers": mixer_spec},
               "learning_rule": cfg.learning_rule, "trainer": trainer_cfg, "seed": cfg.seed}
        validate_experiment(exp, registry=registry)
        experiments.append(exp)
    journal = RunJournal(folder=out / ".journal" if out_dir else Path(cfg.trainer.out_dir) / ".journal" /
                         f"{cfg.name}-{run_key(cfg.model_dump(mode='json', exclude={'workers'}))}")
    if fresh:
        journal.clear()
    keys = [run_key({"bakeoff_entry": m, "experiment": e}) for m, e in zip(mixers, experiments, strict=True)]
    rows: list[dict[str, Any] | None] = [journal.get(k) for k in keys]
    todo = [i for i, row in enumerate(rows) if row is None]
    out.mkdir(parents=True, exist_ok=True)
    workers, threads = plan_workers(len(mixers), cfg.workers)  # as in one uninterrupted start: same threads
    here = in_process(backend, workers)
    if verbose:
        print(f"bake-off: {len(mixers)} token mixers ({', '.join(mixers)}) on {data['name']}, "
              + _where(backend, address, workers, threads if not here else torch.get_num_threads()), flush=True)
        for i, row in enumerate(rows):
            if row is not None:
                print(f"{mixers[i]}: finished earlier (test accuracy {row['test_accuracy']:.4f}; from "
                      f"{journal.folder}), not trained again", flush=True)
    calls = [(mixers[i], experiments[i], out / mixers[i], None, registry) if here
             else (mixers[i], experiments[i], out / mixers[i], threads) for i in todo]

    def done(j: int, row: dict[str, Any]) -> None:
        rows[todo[j]] = row
        if "error" not in row:
            journal.put(keys[todo[j]], row, label=row["mixer"])
        if not verbose:
            return
        if "error" in row:
            print(f"{row['mixer']}: skipped ({row['error']})", flush=True)
        else:
            print(f"{row['mixer']}: test accuracy {row['test_accuracy']:.4f} in {row['seconds']:.1f}s", flush=True)

    def died(j: int, exc: BaseException) -> dict[str, Any]:
        mixer = mixers[todo[j]]
        return {"mixer": mixer, "plugin": registry.get("token_mixer", mixer).plugin,
                "error": f"worker failed: {type(exc).__name__}: {exc}"}

    run_parallel(train_entry, calls, workers=workers, on_done=done, on_error=None if here else died,
                 backend=backend, address=address,
                 resources=task_resources(threads, cfg.trainer.device) if backend == "ray" else None)
    ranked = sorted((r for r in rows if r is not None), key=lambda r: -(r.get("test_accuracy") or -1.0))
    results = {"config": cfg.model_dump(mode="json"), "data": data, "torch": torch.__version__,
               "backend": backend, "workers": workers, "threads": threads if not here else torch.get_num_threads(),
               "leaderboard": ranked}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot_leaderboard(ranked, out / "leaderboard.png")
    if all("error" not in r for r in ranked):
        journal.clear()
    elif verbose and len(journal):
        print(f"{len(journal)} finished entries are kept in {journal.folder}: the same command skips them")
    if verbose:
        print(leaderboard_table(ranked))
        print(f"results: {out / 'results.json'}  chart: {out / 'leaderboard.png'}")
    results["out_dir"] = str(out)
    return results


def _where(backend: str, address: str | None, workers: int, threads: int) -> str:
    """How the entries run, for the bake-off's first line."""
    if backend == "ray":
        from forwardkit.parallel_ray import connect, describe

        return f"as Ray tasks of {threads} CPU(s) each on the {describe(connect(address))}"
    return f"{workers} worker(s) x {threads} thread(s)"


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
