"""The trainer: owns the loop (epochs, evaluation, logging, checkpoints, device, seeding, processes).

The learning rule owns the update (``rule.step(batch, ctx)``); callbacks observe and modify through the
loop events, in ascending priority. A run directory holds ``experiment.json``, ``metrics.jsonl`` /
``metrics.csv``, ``summary.json``, ``curves.png`` and ``checkpoints/``. Resuming from a checkpoint
continues bit-identically on CPU: the data order depends only on (seed, epoch), and every RNG state,
the rule's and the callbacks' state are restored at a step boundary.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.compose import create
from forwardkit.config import ComponentSpec, Experiment, ModelSpec, TaskSpec, resolve_config, validate_experiment
from forwardkit.engine import checkpoint as ckpt
from forwardkit.engine.architecture import architecture_state, load_architecture_state
from forwardkit.engine.compiling import BatchForward
from forwardkit.engine.data import (
    epoch_batches,
    iterate,
    loader,
    paired_indices,
    steps_per_epoch,
    take_rows,
    to_device,
)
from forwardkit.engine.logs import MetricsLog, Progress, plot_curves, summary_table
from forwardkit.engine.seeding import rng_state, seed_everything, set_rng_state
from forwardkit.engine.state import atomic_write_text, dumps_json
from forwardkit.errors import ConfigError, ConfigIssue, ForwardkitError
from forwardkit.interfaces import Adapter, Analyzer, Callback, Dataset, LearningRule, RunContext, Task
from forwardkit.interfaces.compressor import CompressionReport, ModelFigures
from forwardkit.nn.projections import load_pointwise_choices, pointwise_choices
from forwardkit.registry import Registry, default_registry


@dataclass
class FitResult:
    """What a finished (or stopped) run returns."""

    run_dir: Path | None
    model: nn.Module
    steps: int
    seconds: float
    final: dict[str, float] = field(default_factory=dict)
    stop_reason: str | None = None
    train_samples_per_s: float = 0.0
    #: stopped because training diverged, or ended with a non-finite training loss
    diverged: bool = False
    #: a resume found the run already finished: nothing was trained or written
    already_finished: bool = False


#: lets DDP and torch.compile wrap ``model.forward_batch`` (their ``forward`` takes the whole batch dict)
_BatchForward = BatchForward


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ForwardkitError(f"trainer.device is {name!r} but CUDA is not available here; use 'cpu' or 'auto'")
    return device


def new_run_dir(experiment: Experiment) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return Path(experiment.trainer.out_dir) / f"{experiment.name}-{stamp}"


class Trainer:
    """Builds an experiment's components and trains them.

    Args:
        experiment: an :class:`Experiment`, a mapping, or anything :func:`validate_experiment` accepts.
        run_dir: where outputs go (default: ``<trainer.out_dir>/<name>-<timestamp>``); ``None`` with
            ``write=False`` keeps everything in memory.
        resume: continue from ``run_dir``'s latest checkpoint.
        rank, world_size: set by the distributed launcher.
        prepare: called with the freshly built model (after the adapters, before compressors and the
            learning rule's setup): how a stage of a multi-stage experiment loads carried weights and
            freezes parameters.
        overwrite: a new run into a ``run_dir`` that holds an earlier run deletes that run's outputs
            (without it, such a directory is refused).
    """

    def __init__(
        self,
        experiment: Any,
        *,
        run_dir: str | Path | None = None,
        resume: bool = False,
        write: bool = True,
        registry: Registry | None = None,
        rank: int = 0,
        world_size: int = 1,
        verbose: bool = True,
        prepare: Callable[[nn.Module], None] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.experiment = validate_experiment(experiment, registry=registry)
        self.registry = registry or default_registry()
        self.rank, self.world_size = rank, world_size
        self.write = write
        self.verbose = verbose and rank == 0
        self.run_dir = Path(run_dir) if run_dir is not None else (new_run_dir(self.experiment) if write else None)
        self.resume = resume
        self.device = resolve_device(self.experiment.trainer.device)
        if world_size > 1 and self.experiment.trainer.batch_size < world_size:
            raise ForwardkitError(f"trainer.batch_size {self.experiment.trainer.batch_size} is smaller than the "
                                  f"{world_size} processes: every process needs at least one sample per step")
        self._built = False
        self._loss_scale = 1.0
        self._prepare = prepare
        self.overwrite = overwrite
        self._warned_non_finite = False
        self._metrics_records: int | None = None
        #: with ``trainer.compile``: the compiled ``forward_batch`` of the model, for evaluation
        self._compiled_eval: Callable[[Mapping[str, Tensor]], Any] | None = None
        #: the checkpoint a resume continued from
        self.resumed_from: Path | None = None

    # ---- building ------------------------------------------------------------------------------
    def _create(self, kind: str, spec: Any) -> Any:
        return create(kind, spec.name, spec.config, registry=self.registry)

    def build(self) -> None:
        """Create dataset, task, model (+ adapters, pre-training compressors), rule and callbacks."""
        exp = self.experiment
        seed_everything(exp.seed)
        self.dataset: Dataset = self._create("dataset", exp.data)
        meta = self.dataset.metadata
        self.task: Task = self._build_task(meta)
        self.model: nn.Module = self._build_model(meta)
        self.adapters: list[Adapter] = []
        for spec in exp.adapters:
            adapter = self._create("adapter", spec)
            self.model = adapter.apply(self.model)
            self.adapters.append(adapter)
        if self._prepare is not None:
            self._prepare(self.model)
        self.compression_reports: list[dict[str, Any]] = []
        self.compressors_after: list[tuple[str, Any]] = []
        for cspec in exp.compressors:
            compressor = self._create("compressor", cspec)
            if compressor.when == "before_training":
                self.model, report = compressor.compress(self.model, data=self._sample_batches("train"))
                self.compression_reports.append({"name": cspec.name, "when": "before_training", **report.to_dict()})
            else:
                self.compressors_after.append((cspec.name, compressor))
        self.analyzers: list[tuple[str, Analyzer]] = [  # run on the final model in _finish
            (label, self._create("analyzer", aspec))
            for label, aspec in zip(unique_labels([a.name for a in exp.analyzers]), exp.analyzers, strict=True)
        ]
        self.model.to(self.device)
        rule_spec = exp.learning_rule
        self.rule: LearningRule = (
            self._create("learning_rule", rule_spec) if rule_spec else create("learning_rule", "backprop",
                                                                                registry=self.registry)
        )
        if not getattr(self.rule, "trains", True):
            name = rule_spec.name if rule_spec else "backprop"
            raise ConfigError([ConfigIssue("learning_rule", f"{name!r} adapts at test time only and cannot train a "
                                           f"model: train with another rule and name {name!r} under test_time.rule")])
        created = [self._create("callback", spec) for spec in exp.callbacks]
        order = sorted(range(len(created)), key=lambda i: (created[i].priority, i))
        self.callbacks: list[Callback] = [created[i] for i in order]
        self.callback_names = [exp.callbacks[i].name for i in order]
        self.train_set = self.dataset.split("train")
        self.paired_set = self._paired_split()
        if self.rank > 0:  # same initial weights everywhere (seeded above); own dropout/augmentation draws
            seed_everything(exp.seed + 1_000_003 * self.rank)
        self.eval_split = "val" if self._has_split("val") else None
        self._built = True

    def _config_from_metadata(self, kind: str, spec: ComponentSpec, meta: Any) -> Any:
        """``spec``'s config with the fields its class fills from the dataset metadata
        (``fields_from_metadata``), except those the experiment sets itself."""
        info = self.registry.get(kind, spec.name)
        fill = getattr(info.load(), "fields_from_metadata", None)
        filled = fill(meta) if fill else {}
        explicit = spec.config.model_fields_set
        return resolve_config(info.load_config(), spec.config, {k: v for k, v in filled.items() if k not in explicit})

    def _build_model(self, meta: Any) -> nn.Module:
        spec = self.experiment.model
        config = self._config_from_metadata("model", spec, meta)
        # record the resolved model in the experiment (what experiment.json and checkpoints hold)
        self.experiment = self.experiment.model_copy(update={"model": ModelSpec(spec.name, config)})
        return create("model", spec.name, config, registry=self.registry)

    def _build_task(self, meta: Any) -> Task:
        """The experiment's task (``trainer.task``), else the one the dataset's metadata names."""
        spec = self.experiment.trainer.task or TaskSpec.parse(meta.task, registry=self.registry)
        return create("task", spec.name, self._config_from_metadata("task", spec, meta), registry=self.registry)

    def _paired_split(self) -> Any:
        """The split ``trainer.paired`` names (None without it); an unknown or empty one is a ConfigError."""
        paired = self.experiment.trainer.paired
        if paired is None:
            return None
        if not self._has_split(paired.split):
            splits = ", ".join(getattr(self.dataset, "splits", ("train", "val", "test")))
            raise ConfigError([ConfigIssue("trainer.paired.split", f"the dataset has no split {paired.split!r} "
                                           f"(its splits: {splits})")])
        data = self.dataset.split(paired.split)
        if len(data) == 0:  # type: ignore[arg-type]
            raise ConfigError([ConfigIssue("trainer.paired.split", f"split {paired.split!r} is empty")])
        return data

    def _with_paired(self, batch: dict[str, Any], step: int) -> dict[str, Any]:
        """``batch`` with the paired split's rows of this step, keys prefixed (``trainer.paired``)."""
        paired, tcfg = self.experiment.trainer.paired, self.experiment.trainer
        assert paired is not None
        rows = paired_indices(len(self.paired_set), batch_size=paired.batch_size or tcfg.batch_size,
                              seed=self.experiment.seed, step=step, shuffle=paired.shuffle, rank=self.rank,
                              world_size=self.world_size)
        extra = take_rows(self.paired_set, rows, paired.keys)
        clash = [paired.prefix + k for k in extra if paired.prefix + k in batch]
        if clash:
            raise ForwardkitError(f"trainer.paired: the keys {clash} are already in the training batch; "
                                  "choose another trainer.paired.prefix")
        return {**batch, **{paired.prefix + k: v for k, v in extra.items()}}

    def _has_split(self, name: str) -> bool:
        return name in getattr(self.dataset, "splits", ("train", "val", "test"))

    def _sample_batches(self, split: str, n_batches: int = 4) -> list[dict[str, Tensor]]:
        data = self.dataset.split(split)
        size = self.experiment.trainer.eval_batch_size or self.experiment.trainer.batch_size
        out = []
        for i, batch in enumerate(iterate(data, size)):
            if i >= n_batches:
                break
            out.append(batch)
        return out

    # ---- events --------------------------------------------------------------------------------
    def _loss(self, output: Any, batch: Mapping[str, Tensor]) -> Tensor:
        loss = self.task.loss(output, batch)
        if self.world_size > 1 and self._loss_scale != 1.0:
            loss = loss * self._loss_scale
        for adapter in self.adapters:
            extra = adapter.loss(self.model, batch, output)
            if extra is not None:
                loss = loss + extra
        return loss

    def _after_backward(self) -> None:
        for cb in self.callbacks:
            cb.on_after_backward(self.ctx)

    def _wrap(self) -> None:
        """(Re)create the forward used by the rule: DDP over ``forward_batch`` when distributed; with
        ``trainer.compile`` through ``torch.compile`` (the compiled callable wraps the model, whose own
        ``state_dict`` keys the checkpoints keep)."""
        forward: Any = None
        batch_forward = _BatchForward(self.model)
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            # channels-last convs with one input channel have ambiguous strides; DDP's notice is harmless
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            self.ddp = DistributedDataParallel(batch_forward, device_ids=ids)
            forward = self.ddp
        self._compiled_eval = None
        if self.experiment.trainer.compile:
            from forwardkit.engine.compiling import compile_forward

            compiled_eval = compile_forward(batch_forward, device=self.device)
            forward = compile_forward(forward, device=self.device) if forward is not None else compiled_eval
            self._compiled_eval = compiled_eval
        self.ctx.forward = forward
        self.ctx.model = self.model

    # ---- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str = "val", model: nn.Module | None = None) -> dict[str, float]:
        """Average task metrics over a whole split (exact, whatever the batch size).

        Without ``model``, callbacks may choose the module to evaluate (``on_evaluate_start``: averaged
        weights, for instance); ``on_evaluate_end`` then sees the metrics.
        """
        from forwardkit.interfaces.task import accumulate, averages

        if not self._built:
            self.build()
        ctx: RunContext | None = getattr(self, "ctx", None)
        explicit = model is not None
        if model is None and ctx is not None:
            for cb in self.callbacks:
                chosen = cb.on_evaluate_start(split, ctx)
                model = chosen if chosen is not None else model
        model = model or self.model
        was_training = model.training
        model.eval()
        totals: dict[str, list[float]] = {}
        size = self.experiment.trainer.eval_batch_size or self.experiment.trainer.batch_size
        # trainer.compile: the compiled forward, for the trained model and a rule that predicts with forward_batch
        compiled = self._compiled_eval if model is self.model and type(self.rule).predict is LearningRule.predict \
            else None
        for batch in iterate(self.dataset.split(split), size, num_workers=self.experiment.trainer.num_workers):
            batch = to_device(batch, self.device)
            output = compiled(batch) if compiled is not None else self.rule.predict(model, batch)
            accumulate(totals, self.task.metrics(output, batch))
        model.train(was_training)
        metrics = {f"{split}/{k}": v for k, v in averages(totals).items()}
        if ctx is not None and not explicit:
            for cb in self.callbacks:
                cb.on_evaluate_end(split, metrics, ctx)
        return metrics

    # ---- checkpoints ---------------------------------------------------------------------------
    def _state(self, epoch: int, batch_in_epoch: int, finished: bool) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "rule": self.rule.state_dict(),
            "callbacks": [{"name": n, "state": cb.state_dict()} for n, cb in zip(self.callback_names,
                                                                                  self.callbacks, strict=True)],
            "rng": rng_state(),
            "kernels": {"pointwise": pointwise_choices()},  # a resumed run computes with the same kernels
            # a model that grew (or was pruned) records its structure, rebuilt on resume before the weights load
            **self._architecture(),
            "train_seconds": self.train_seconds,
            "train_samples": self.train_samples,
            "timed_samples": self.timed_samples,
            "interval": {k: list(v) for k, v in self.interval.items()},
            "stop": {"should_stop": ctx.should_stop, "reason": ctx.stop_reason,
                     "checkpoint_allowed": ctx.checkpoint_allowed, "diverged": ctx.diverged},
            "lr_scale": ctx.lr_scale,
            "last_eval": dict(ctx.extra.get("last_eval", {})),
            "last_eval_step": int(ctx.extra.get("last_eval_step", -1)),
            "metrics_records": len(self.metrics.records),
            "finished": finished,
        }

    def _architecture(self) -> dict[str, Any]:
        """``{"architecture": ...}`` when a module of the model records how its structure changed (see
        :mod:`forwardkit.engine.architecture`), else nothing (checkpoints of fixed models stay as they were)."""
        recorded = architecture_state(self.model)
        return {"architecture": recorded} if recorded else {}

    def save_checkpoint(self, epoch: int, batch_in_epoch: int, *, finished: bool = False) -> Path | None:
        """Write a checkpoint (rank 0, when writing); a model with non-finite weights is never written, so
        a NaN checkpoint never replaces a finite one."""
        if not (self.write and self.rank == 0 and self.run_dir is not None and self.ctx.checkpoint_allowed):
            return None
        state = self.model.state_dict()
        bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            if not self._warned_non_finite:
                warnings.warn(f"not checkpointing step {self.ctx.step}: non-finite weights ({', '.join(bad[:3])}); "
                              "the last finite checkpoint is kept", RuntimeWarning, stacklevel=2)
                self._warned_non_finite = True
            return None
        return ckpt.save_checkpoint(
            self.run_dir / "checkpoints",
            step=self.ctx.step,
            model_state=state,
            state=self._state(epoch, batch_in_epoch, finished),
            experiment=self.experiment.to_dict(),
            keep=self.experiment.trainer.keep_checkpoints,
        )

    def _restore(self) -> tuple[int, int, bool]:
        """Load the checkpoint to resume from (``latest``'s, else the newest that verifies); returns
        (epoch, batch_in_epoch, finished)."""
        assert self.run_dir is not None
        found = ckpt.resumable(self.run_dir / "checkpoints")
        loaded, path = found.checkpoint, found.checkpoint.path
        if found.note() and self.verbose:
            print(f"note: {found.note()}")
        self.resumed_from = path
        saved = validate_experiment(loaded.experiment, registry=self.registry).to_dict(full=True)
        if ckpt.experiment_fingerprint(saved) != ckpt.experiment_fingerprint(self.experiment.to_dict(full=True)):
            raise ckpt.CheckpointError(
                f"checkpoint {path} was written by a different experiment (data, model, rule, callbacks or batch "
                "size differ); resume with the run's own experiment.json or start a new run"
            )
        try:
            return self._load_state(loaded)
        except ckpt.CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            raise ckpt.CheckpointError(f"checkpoint {path} does not match this run: {type(exc).__name__}: "
                                       f"{exc}") from None

    def _load_state(self, loaded: ckpt.Checkpoint) -> tuple[int, int, bool]:
        state, path = loaded.state, loaded.path
        saved_names = [c["name"] for c in state["callbacks"]]
        if saved_names != self.callback_names:
            raise ckpt.CheckpointError(f"checkpoint callbacks {saved_names} differ from {self.callback_names}")
        for cb, saved in zip(self.callbacks, state["callbacks"], strict=True):
            cb.load_state_dict(saved["state"])
        if state.get("architecture"):  # the grown structure first: the optimizer and the weights need it
            load_architecture_state(self.model, state["architecture"])
        for cb in self.callbacks:
            cb.on_resume(self.ctx)
        self._fit_start()
        try:
            self.model.load_state_dict(loaded.model_state)
        except RuntimeError as exc:
            raise ckpt.CheckpointError(f"checkpoint {path} does not fit the model: {exc}") from None
        self.rule.load_state_dict(state["rule"])
        load_pointwise_choices(state.get("kernels", {}).get("pointwise", {}))
        ctx = self.ctx
        ctx.step = loaded.step
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.train_samples = int(state.get("train_samples", 0))
        self.timed_samples = int(state.get("timed_samples", self.train_samples))
        self.interval.update({k: [float(v[0]), int(v[1])] for k, v in state.get("interval", {}).items()})
        stop = state.get("stop", {})
        ctx.should_stop, ctx.stop_reason = bool(stop.get("should_stop", False)), stop.get("reason")
        ctx.checkpoint_allowed = bool(stop.get("checkpoint_allowed", True))
        ctx.diverged = bool(stop.get("diverged", False))
        ctx.lr_scale = float(state.get("lr_scale", 1.0))
        if state.get("last_eval"):
            ctx.extra["last_eval"] = {k: float(v) for k, v in state["last_eval"].items()}
            ctx.extra["last_eval_step"] = int(state.get("last_eval_step", -1))
        self._metrics_records = state.get("metrics_records")
        set_rng_state(state["rng"])
        return int(state["epoch"]), int(state["batch_in_epoch"]), bool(state.get("finished", False))

    def _fit_start(self) -> None:
        for cb in self.callbacks:
            cb.on_fit_start(self.ctx)
        self.model.to(self.device)
        self.rule.setup(self.model, self.ctx)
        self._wrap()

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self) -> FitResult:
        """Train; evaluate every ``eval_every`` epochs; checkpoint; test at the end."""
        if not self._built:
            self.build()
        tcfg = self.experiment.trainer
        n_train = len(self.train_set)  # type: ignore[arg-type]
        per_epoch = steps_per_epoch(n_train, tcfg.batch_size, tcfg.drop_last)
        if tcfg.max_steps:  # a step budget replaces the epoch count
            total, epochs = tcfg.max_steps, -(-tcfg.max_steps // per_epoch)
        else:
            total, epochs = per_epoch * tcfg.epochs, tcfg.epochs
        self.ctx = RunContext(
            model=self.model, device=self.device, loss_fn=self._loss, after_backward=self._after_backward,
            steps_per_epoch=per_epoch, total_steps=total, epochs=epochs, rank=self.rank,
            world_size=self.world_size, run_dir=self.run_dir,
        )
        self.ctx.extra.update(task=self.task, learning_rule=self.rule)
        #: every sample trained on (exact across resumes); the timed ones (each segment's first step, which
        #: pays one-time lazy imports, is not timed) and their seconds give the throughput
        self.train_seconds, self.train_samples, self.timed_samples = 0.0, 0, 0
        self.interval: dict[str, list[float]] = {}
        if not self.resume and self.write and self.rank == 0 and self.run_dir is not None:
            from forwardkit.engine.rundir import prepare_run_dir

            prepare_run_dir(self.run_dir, overwrite=self.overwrite)
        self.metrics = MetricsLog(self.run_dir if self.write and self.rank == 0 else None,
                                  tensorboard=tcfg.tensorboard)
        start_epoch, start_batch, done = 0, 0, False
        if self.resume:
            start_epoch, start_batch, finished = self._restore()
            done = finished and (self.ctx.should_stop or self.ctx.step >= total)
            if done and self.run_dir is not None and (self.run_dir / "summary.json").is_file():
                return self._already_finished()
            self.metrics.load_existing(self.ctx.step, records=self._metrics_records)
            if finished and not done:  # a longer budget than the finished run's: train on
                self.ctx.should_stop = False
        else:
            self._write_experiment()
            self._fit_start()
        self._first_step = self.ctx.step + 1
        progress = Progress(total=total, start_step=self.ctx.step, mode=tcfg.progress, every=tcfg.log_every,
                            enabled=self.verbose)
        wall = time.perf_counter()
        try:
            if not done:  # a run killed after its final checkpoint only finishes (test, summary)
                self._loop(start_epoch, start_batch, epochs, total, progress)
        finally:
            progress.close()
        for cb in self.callbacks:
            cb.on_fit_end(self.ctx)
        final = self._finish(progress)
        return FitResult(
            run_dir=self.run_dir, model=self.model, steps=self.ctx.step, seconds=time.perf_counter() - wall,
            final=final, stop_reason=self.ctx.stop_reason,
            train_samples_per_s=self.timed_samples / max(self.train_seconds, 1e-9),
            diverged=self.ctx.diverged or not math.isfinite(float(self.ctx.last_metrics.get("loss", 0.0))),
        )

    def _already_finished(self) -> FitResult:
        """A resume of a run that had finished: say so, train and write nothing."""
        assert self.run_dir is not None
        summary = json.loads((self.run_dir / "summary.json").read_text(encoding="utf-8"))
        final = {k: (float(v) if v is not None else math.nan) for k, v in summary.get("final", {}).items()}
        if self.verbose:
            how = f"stopped: {self.ctx.stop_reason}" if self.ctx.stop_reason else "its training budget was used"
            print(f"{self.run_dir} already finished at step {self.ctx.step} ({how}); nothing to resume. To train "
                  "longer, resume with a larger trainer.epochs or trainer.max_steps.")
        return FitResult(run_dir=self.run_dir, model=self.model, steps=self.ctx.step, seconds=0.0, final=final,
                         stop_reason=self.ctx.stop_reason, diverged=self.ctx.diverged, already_finished=True)

    def _loop(self, start_epoch: int, start_batch: int, epochs: int, total: int, progress: Progress) -> None:
        tcfg, ctx = self.experiment.trainer, self.ctx
        n_train = len(self.train_set)  # type: ignore[arg-type]
        interval = self.interval  # running sums of the training metrics since the last logged line
        for epoch in range(start_epoch, epochs):
            ctx.epoch = epoch
            global_batches = epoch_batches(n_train, batch_size=tcfg.batch_size, seed=self.experiment.seed,
                                           epoch=epoch, shuffle=tcfg.shuffle, drop_last=tcfg.drop_last)
            if self.world_size > 1:  # a batch smaller than the world would leave a rank without samples
                global_batches = [b for b in global_batches if len(b) >= self.world_size]
            batches = [b[self.rank :: self.world_size] for b in global_batches]
            # DDP averages the ranks' gradients with equal weight: weigh each rank's mean loss by its share
            shares = [len(mine) * self.world_size / len(b) for mine, b in zip(batches, global_batches, strict=True)]
            first = start_batch if epoch == start_epoch else 0
            if first == 0:
                for cb in self.callbacks:
                    cb.on_epoch_start(ctx)
            self.model.train()
            done = first
            tick = time.perf_counter()
            for batch in loader(self.train_set, batches[first:], num_workers=tcfg.num_workers):
                self._loss_scale = shares[done]
                if self.paired_set is not None:
                    batch = self._with_paired(batch, ctx.step)
                batch = to_device(batch, self.device)
                for cb in self.callbacks:
                    batch = cb.on_batch_start(batch, ctx)
                metrics = self.rule.step(batch, ctx)
                if ctx.should_stop and not ctx.checkpoint_allowed:
                    return  # stopped before the update (NaN guard): this step did not happen
                ctx.step += 1
                done += 1
                ctx.last_metrics = metrics
                for cb in self.callbacks:
                    cb.on_step_end(metrics, ctx)
                n = len(next(iter(batch.values()))) * self.world_size
                now = time.perf_counter()
                self.train_samples += n
                if ctx.step > self._first_step:  # the first step pays one-time lazy imports: not timed
                    self.train_seconds += now - tick
                    self.timed_samples += n
                for key, value in metrics.items():  # logged as means over the steps since the last line
                    acc = interval.setdefault(key, [0.0, 0])
                    acc[0] += value
                    acc[1] += 1
                if ctx.step % tcfg.log_every == 0 or ctx.step == total:
                    means = {f"train/{k}": v / n_ for k, (v, n_) in interval.items()}
                    interval.clear()
                    record = {"step": ctx.step, "epoch": epoch + 1, **means}
                    record.update(ctx.extra.pop("step_metrics", {}))
                    self.metrics.log(record)
                progress.update(step=ctx.step, epoch=epoch, epochs=epochs, loss=metrics.get("loss", float("nan")),
                                samples=n)
                if tcfg.checkpoint_every_steps and ctx.step % tcfg.checkpoint_every_steps == 0:
                    self.save_checkpoint(epoch, done)
                if ctx.should_stop or ctx.step >= total:
                    break
                tick = time.perf_counter()
            self._epoch_end(epoch, epochs, total, progress, done=done, complete=done >= len(batches))
            if ctx.should_stop or ctx.step >= total:
                return

    def _epoch_end(self, epoch: int, epochs: int, total: int, progress: Progress, *, done: int, complete: bool) -> None:
        tcfg, ctx = self.experiment.trainer, self.ctx
        last = ctx.step >= total or epoch + 1 >= epochs or ctx.should_stop
        if self.eval_split and ((tcfg.eval_every and (epoch + 1) % tcfg.eval_every == 0) or last):
            evaluation = self.evaluate(self.eval_split)
            ctx.extra["last_eval"] = evaluation
            ctx.extra["last_eval_step"] = ctx.step
            self.metrics.log({"step": ctx.step, "epoch": epoch + 1, **evaluation})
            progress.message(f"epoch {epoch + 1}: " + "  ".join(f"{k} {v:.4f}" for k, v in evaluation.items()))
        changed = False
        for cb in self.callbacks:
            changed = bool(cb.on_epoch_end(ctx)) or changed
        if changed:
            self.model.to(self.device)
            self.rule.model_changed(self.model, ctx)
            self._wrap()
        last = last or ctx.should_stop  # a callback may have stopped the run just now
        if (tcfg.checkpoint_every and (epoch + 1) % tcfg.checkpoint_every == 0) or last:
            # an epoch cut short (step budget, stop) resumes at its next batch
            finished = ctx.step >= total or ctx.should_stop
            if complete:
                self.save_checkpoint(epoch + 1, 0, finished=finished)
            else:
                self.save_checkpoint(epoch, done, finished=finished)

    def _finish(self, progress: Progress) -> dict[str, float]:
        ctx, tcfg = self.ctx, self.experiment.trainer
        final: dict[str, float] = dict(ctx.extra.get("last_eval", {}))
        if tcfg.test_at_end and self._has_split("test") and ctx.checkpoint_allowed:
            test = self.evaluate("test")
            final.update(test)
            self.metrics.log({"step": ctx.step, **test})
        if tcfg.eval_train_at_end and ctx.checkpoint_allowed:  # train/... keys are the training steps' metrics
            fit = {f"train_eval/{k.split('/', 1)[1]}": v for k, v in self.evaluate("train").items()}
            final.update(fit)
            self.metrics.log({"step": ctx.step, **fit})
        if self.experiment.test_time is not None and ctx.checkpoint_allowed:
            adapted = self._test_time()
            final.update(adapted)
            self.metrics.log({"step": ctx.step, **adapted})
        for name, compressor in self.compressors_after:
            self.model, report = compressor.compress(self.model, data=self._sample_batches("val"))
            entry = {"name": name, "when": "after_training", **report.to_dict()}
            if self._has_split("test"):
                entry["test_after"] = self.evaluate("test")
            self.compression_reports.append(entry)
        final.update(compression_metrics(self.compression_reports))
        final.update(self._analyze())
        final["train/samples_per_s"] = self.timed_samples / max(self.train_seconds, 1e-9)
        final["train/samples"] = float(self.train_samples)
        final["steps"] = float(ctx.step)
        if self.write and self.rank == 0 and self.run_dir is not None:
            non_finite = sorted(k for k, v in final.items() if not math.isfinite(v))
            summary = {"final": {k: (v if math.isfinite(v) else None) for k, v in final.items()},
                       "non_finite": non_finite, "diverged": ctx.diverged, "stop_reason": ctx.stop_reason,
                       "steps": ctx.step,
                       "experiment": self.experiment.to_dict(full=True),
                       "parameters": sum(p.numel() for p in self.model.parameters()),
                       "compression": self.compression_reports}
            atomic_write_text(self.run_dir / "summary.json", dumps_json(summary))
            self.metrics.write_csv()
            if tcfg.plots:
                plot_curves(self.metrics.records, self.run_dir / "curves.png")
        self.metrics.close()
        if self.verbose and tcfg.progress != "none":
            if ctx.stop_reason:
                progress.message(f"stopped: {ctx.stop_reason}")
            print(summary_table(f"{self.experiment.name}: {ctx.step} steps", final), end="")
            if self.run_dir is not None and self.write:
                print(f"run directory: {self.run_dir}")
        return final

    def _test_time(self) -> dict[str, float]:
        """The experiment's test-time learning on its splits (see :mod:`forwardkit.engine.test_time`)."""
        from forwardkit.engine.test_time import evaluate_test_time

        assert self.experiment.test_time is not None
        size = self.experiment.trainer.eval_batch_size or self.experiment.trainer.batch_size
        return evaluate_test_time(self.experiment.test_time, model=self.model, dataset=self.dataset, task=self.task,
                                  device=self.device, batch_size=size, seed=self.experiment.seed,
                                  registry=self.registry)

    def _analyze(self) -> dict[str, float]:
        """Run the experiment's analyzers on the final model (eval mode, a few batches of the last split);
        their numbers become ``analysis/<name>/<key>`` metrics, their tables and figures are saved under
        ``<run_dir>/analysis/<name>/``."""
        if not self.analyzers:
            return {}
        split = next((s for s in ("test", "val", "train") if self._has_split(s)), "train")
        batches = self._sample_batches(split)
        self.model.eval()
        out: dict[str, float] = {}
        for name, analyzer in self.analyzers:
            analysis = analyzer.analyze(self.model, data=batches)
            out.update({f"analysis/{name}/{key}": float(value) for key, value in analysis.numbers.items()})
            if self.write and self.rank == 0 and self.run_dir is not None:
                analysis.save(self.run_dir / "analysis" / name)
            analysis.close()
        return out

    def _write_experiment(self) -> None:
        if self.write and self.rank == 0 and self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / "experiment.json", json.dumps(self.experiment.to_dict(), indent=2))


def unique_labels(names: list[str]) -> list[str]:
    """Metric labels for components listed by name: a name used again gets ``-2``, ``-3``, ..."""
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return labels


def compression_metrics(reports: list[dict[str, Any]]) -> dict[str, float]:
    """Compression reports as flat metrics: ``compression/<name>/{before,after,ratio}/<field>`` for every
    measured figure (parameters, bytes, macs, latency_ms, accuracy; ratios as in
    :meth:`CompressionReport.ratios`), and ``compression/<name>/<metric>`` for
    the test metrics measured after an after-training compressor. A name used twice gets ``-2``, ``-3``."""
    out: dict[str, float] = {}
    for label, entry in zip(unique_labels([e["name"] for e in reports]), reports, strict=True):
        prefix = f"compression/{label}"
        for side in ("before", "after"):
            for key, value in entry[side].items():
                if value is not None:
                    out[f"{prefix}/{side}/{key}"] = float(value)
        report = CompressionReport(ModelFigures(**entry["before"]), ModelFigures(**entry["after"]))
        out.update({f"{prefix}/ratio/{key}": value for key, value in report.ratios().items()})
        for key, value in entry.get("test_after", {}).items():
            out[f"{prefix}/{key}"] = float(value)
    return out


def fit(experiment: Any, **kwargs: Any) -> FitResult:
    """Train an experiment; keyword arguments go to :class:`Trainer`.

    Inside a process group (``torchrun``, or ``forwardkit run --nproc N``) the rank and world size are
    taken from the environment.
    """
    from forwardkit.engine.distributed import init_process_group

    exp = validate_experiment(experiment, registry=kwargs.get("registry"))
    if "rank" not in kwargs:
        kwargs["rank"], kwargs["world_size"] = init_process_group(exp.trainer.device)
    return Trainer(exp, **kwargs).fit()
