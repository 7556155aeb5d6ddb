"""``check_test_time``: a learning rule that adapts at test time, run by the engine's own test-time code.

Applies to learning rules with ``adapts_at_test_time = True`` (skipped for the others). On each model
the rule is checked on (``conformance_models``, default the kit's ``toy``), a labelled stream of
:data:`STREAM_SIZE` samples from the model's ``example_batch()`` is streamed through the rule by
:func:`forwardkit.engine.test_time.evaluate_test_time` (batches of :data:`BATCH_SIZE`, episodes of
:data:`EPISODE_BATCHES` batches, ``reset: true``, a fixed stream permutation), in ``online`` and
``transductive`` mode (or the TestTimeConfig fields the rule pins in ``conformance_test_time``). The
component is registered in a private registry as a subclass that records what it receives and the
weights after every ``adapt``; a task records the outputs it scores. Then:

* **labels are never visible**: no batch given to ``adapt`` or ``predict`` holds a target key, and with
  the stream's labels permuted and corrupted the adapted weights and the outputs are bit-identical;
* **the stream is deterministic**: two runs give identical metrics, outputs and adapted weights;
* **a reset episode starts from the trained model**: at every ``begin_episode`` the weights are the
  trained ones, bit for bit, and the model's output is the trained model's (no hook or other state
  left behind by the episode before); after the stream the trained model is back;
* outputs and adapted weights are **finite**;
* **begin_episode starts the rule afresh**: one instance that adapts on episode 0, then on episode 1,
  then (the model restored) on episode 0 again, gives the same outputs and weights the second time as
  the first (what ``reset: false`` relies on; a rule that carries optimizer moments or counters across
  episodes fails), through :func:`~forwardkit.engine.test_time.run_episode`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.config import TestTimeConfig
from forwardkit.engine import test_time as engine
from forwardkit.engine.data import loader
from forwardkit.engine.seeding import seed_everything
from forwardkit.interfaces import RunContext, Task
from forwardkit.interfaces.model import forward_batch
from forwardkit.registry import Registry
from forwardkit.testing import toys
from forwardkit.testing.checks.common import SkipCheck, Subject, conformance_check, fail
from forwardkit.testing.checks.helpers import describe_config, example_batch, fresh_model, tensors

__all__ = ["BATCH_SIZE", "EPISODE_BATCHES", "MODES", "STREAM_SIZE", "check_test_time", "stream_config"]

UNDER_TEST = "component_under_test"
#: samples in the stream, batch size, batches per episode: 3 batches in 2 episodes
STREAM_SIZE, BATCH_SIZE, EPISODE_BATCHES = 24, 8, 2
#: the modes checked unless the rule pins one in ``conformance_test_time``
MODES = ("online", "transductive")
SEED = 0

State = dict[str, Tensor]


def _snapshot(model: nn.Module) -> State:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same_state(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> list[str]:
    """The keys whose tensors differ (bit for bit), or that only one state has."""
    return sorted(set(a) ^ set(b)) + [k for k in a if k in b and not torch.equal(a[k], b[k])]


def _probe_output(model: nn.Module, probe: Mapping[str, Tensor]) -> list[Tensor]:
    """The model's eval output on ``probe``, leaving its modes as they were."""
    modes = {name: m.training for name, m in model.named_modules()}
    model.eval()
    try:
        with torch.no_grad():
            return [t.detach().clone() for t in tensors(forward_batch(model, probe))]
    finally:
        for name, m in model.named_modules():
            m.training = modes[name]


def _same_tensors(a: Sequence[Tensor], b: Sequence[Tensor]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b, strict=True))


@dataclass
class _Log:
    """What one run of the stream showed the kit."""

    targets: tuple[str, ...]
    probe: dict[str, Tensor]
    trained: State
    trained_output: list[Tensor]
    seen_keys: list[tuple[str, ...]] = field(default_factory=list)
    weights: list[State] = field(default_factory=list)  # after every adapt
    outputs: list[list[Tensor]] = field(default_factory=list)  # every output the task scored
    episode_starts: list[tuple[list[str], bool]] = field(default_factory=list)  # (differing weights, same output)

    def begin(self, model: nn.Module) -> None:
        differing = _same_state(self.trained, model.state_dict())
        self.episode_starts.append((differing, _same_tensors(_probe_output(model, self.probe), self.trained_output)))

    def seen(self, batch: Mapping[str, Any]) -> None:
        self.seen_keys.append(tuple(batch))


def _recording(cls: type) -> type:
    """A subclass of the rule under test that reports to its class attribute ``kit_log``."""

    class Recorded(cls):  # type: ignore[misc, valid-type]
        kit_log: ClassVar[_Log | None] = None

        def begin_episode(self, model: nn.Module, ctx: RunContext) -> None:
            if Recorded.kit_log is not None:
                Recorded.kit_log.begin(model)
            super().begin_episode(model, ctx)

        def adapt(self, model: nn.Module, batch: Mapping[str, Tensor], ctx: RunContext) -> Any:
            log = Recorded.kit_log
            if log is not None:
                log.seen(batch)
            out = super().adapt(model, batch, ctx)
            if log is not None:
                log.weights.append(_snapshot(model))
            return out

        def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Any:
            if Recorded.kit_log is not None:
                Recorded.kit_log.seen(batch)
            return super().predict(model, batch)

    Recorded.__name__ = getattr(cls, "__name__", "Recorded")
    Recorded.__qualname__ = getattr(cls, "__qualname__", "Recorded")
    return Recorded


class _ScoringTask(Task):
    """Scores nothing in particular: records every output, reports its sum and the labels' sum."""

    def __init__(self, targets: tuple[str, ...], outputs: list[list[Tensor]]) -> None:
        super().__init__()
        self.target_keys = targets  # type: ignore[misc]
        self.outputs = outputs

    def loss(self, output: Any, batch: Mapping[str, Tensor]) -> Tensor:  # pragma: no cover - not trained
        raise NotImplementedError

    def metrics(self, output: Any, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        out = [t.detach().clone() for t in tensors(output)]
        self.outputs.append(out)
        n = len(next(iter(batch.values())))
        labels = sum(float(batch[k].double().sum()) for k in self.target_keys)
        total = sum(float(t.double().sum()) for t in out if t.is_floating_point())
        return {"output": (total, n), "labels": (labels, n)}


class _Stream:
    """A dataset of one in-memory split, ``test`` (gathered by the engine's loader)."""

    splits = ("test",)

    def __init__(self, data: Mapping[str, Tensor]) -> None:
        self.data = _Split(dict(data))

    def split(self, name: str) -> Any:
        return self.data


class _Split(torch.utils.data.Dataset):
    def __init__(self, data: dict[str, Tensor]) -> None:
        self.tensors = data

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def _corrupted(batch: Mapping[str, Tensor], targets: Sequence[str]) -> dict[str, Tensor]:
    """The stream with every label permuted across samples and changed."""
    out = dict(batch)
    for key in targets:
        y = batch[key].roll(1, dims=0)
        if y.is_floating_point():
            out[key] = 1.0 - 2.0 * y
        else:
            out[key] = (y + 1) % max(2, int(batch[key].max()) + 1)
    return out


def stream_config(subject: Subject, config: Mapping[str, Any], mode: str, registry: Registry) -> TestTimeConfig:
    """The ``test_time`` section the check streams with (``conformance_test_time`` fields win)."""
    pinned = dict(getattr(subject.cls, "conformance_test_time", None) or {})
    data = {
        "rule": {"name": UNDER_TEST, **dict(config)},
        "splits": ["test"],
        "mode": mode,
        "episode_batches": EPISODE_BATCHES,
        "reset": True,
        "batch_size": BATCH_SIZE,
        "stream_seed": SEED,
        **{k: v for k, v in pinned.items() if k not in ("rule", "splits", "reset")},
    }
    return TestTimeConfig.model_validate(data, context={"registry": registry})


@dataclass
class _Setting:
    """One model and mode to stream through the rule."""

    subject: Subject
    recorded: Any
    registry: Registry
    label: str
    model: nn.Module
    stream: dict[str, Tensor]
    targets: tuple[str, ...]
    config: TestTimeConfig
    where: str

    def log(self) -> _Log:
        probe = {k: v[:BATCH_SIZE] for k, v in self.stream.items()}
        return _Log(self.targets, probe, _snapshot(self.model), _probe_output(self.model, probe))

    def stream_once(self, data: Mapping[str, Tensor]) -> tuple[dict[str, float], _Log]:
        """One run of ``evaluate_test_time`` on ``data``; the metrics and what the kit saw."""
        log = self.log()
        self.recorded.kit_log = log
        task = _ScoringTask(self.targets, log.outputs)
        try:
            metrics = engine.evaluate_test_time(
                self.config, model=self.model, dataset=_Stream(data), task=task, device=torch.device("cpu"),
                batch_size=BATCH_SIZE, seed=SEED, registry=self.registry,
            )
        except AssertionError:
            raise
        except Exception as exc:
            fail(f"evaluate_test_time raised {type(exc).__name__}: {exc} ({self.where})")
        finally:
            self.recorded.kit_log = None
        return metrics, log

    def check_restored(self, log: _Log) -> None:
        """After the stream the trained model is back: its weights and its output."""
        after = _same_state(log.trained, self.model.state_dict())
        if after:
            fail(f"after the stream the trained weights are not back: {after[:5]} differ ({self.where})")
        if not _same_tensors(_probe_output(self.model, log.probe), log.trained_output):
            fail("after the stream the model's output is not the trained model's although its weights are: the rule "
                 f"left a hook or other state on the model ({self.where})")


def _same_metrics(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return set(a) == set(b) and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def _check_labels_hidden(log: _Log, where: str) -> None:
    leaked = sorted({k for keys in log.seen_keys for k in keys if k in log.targets})
    if leaked:
        fail(f"the rule received the target key(s) {leaked}: labels are visible to it ({where})")


def _check_finite(log: _Log, where: str) -> None:
    for i, state in enumerate(log.weights):
        bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            fail(f"non-finite adapted weights {bad[:5]} after adapt() on batch {i} ({where})")
    for i, out in enumerate(log.outputs):
        if any(t.is_floating_point() and not torch.isfinite(t).all() for t in out):
            fail(f"non-finite output scored for batch {i} ({where})")


def _check_episode_starts(log: _Log, where: str) -> None:
    if len(log.episode_starts) < 2:
        fail(f"the stream ran {len(log.episode_starts)} episode(s); the check needs at least 2 ({where})")
    for i, (differing, same_output) in enumerate(log.episode_starts):
        if differing:
            fail(f"episode {i} does not start from the trained weights: {differing[:5]} differ at begin_episode "
                 f"({where})")
        if not same_output:
            fail(f"episode {i} does not start from the trained model: its weights are the trained ones but its output "
                 f"is not (a hook or other state left on the model by an earlier episode) ({where})")


def _check_same_run(a: _Log, b: _Log, what: str, where: str) -> None:
    if len(a.weights) != len(b.weights) or len(a.outputs) != len(b.outputs):
        fail(f"{what}: the runs adapted {len(a.weights)} vs {len(b.weights)} time(s) and scored {len(a.outputs)} vs "
             f"{len(b.outputs)} batch(es) ({where})")
    for i, (x, y) in enumerate(zip(a.weights, b.weights, strict=True)):
        differing = _same_state(x, y)
        if differing:
            fail(f"{what}: the adapted weights {differing[:5]} differ after adapt() on batch {i} ({where})")
    for i, (xs, ys) in enumerate(zip(a.outputs, b.outputs, strict=True)):
        if not _same_tensors(xs, ys):
            fail(f"{what}: the output scored for batch {i} differs ({where})")


def _episode_batches(setting: _Setting) -> list[list[dict[str, Any]]]:
    """The stream's episodes of batches, as the engine cuts them."""
    data = _Stream(setting.stream).split("test")
    order = engine.stream_order(len(data), setting.config.stream_seed)
    size = setting.config.batch_size or BATCH_SIZE
    return [list(loader(data, idx)) for idx in engine.episodes(order, size, setting.config.episode_batches)]


def _check_begin_episode_resets(setting: _Setting) -> None:
    """One rule instance: episode 0, episode 1, episode 0 again (model restored before each)."""
    parts = _episode_batches(setting)
    rule = engine.make_rule(setting.config, setting.registry)

    def episode(batches: list[dict[str, Any]]) -> _Log:
        log = setting.log()
        task = _ScoringTask(setting.targets, log.outputs)
        setting.recorded.kit_log = log
        seed_everything(SEED)
        ctx = RunContext(model=setting.model, device=torch.device("cpu"))
        ctx.extra.update(task=task, test_time_split="test")
        try:
            engine.run_episode(rule, setting.model, batches, task, ctx, setting.config.mode, {})
        finally:
            setting.recorded.kit_log = None
        return log

    with engine.preserved(setting.model) as trained:
        first = episode(parts[0])
        setting.model.load_state_dict(trained)
        episode(parts[1])
        setting.model.load_state_dict(trained)
        again = episode(parts[0])
    try:
        _check_same_run(first, again, "begin_episode does not start the rule afresh", setting.where)
    except AssertionError as exc:
        fail(f"{exc}: one instance adapted on episode 0, then on episode 1, then (the model restored to the trained "
             "weights) on episode 0 again, and the second time differs from the first; the rule carries state "
             "across episodes (optimizer moments, counters): rebuild it in begin_episode")


def _setting(subject: Subject, recorded: Any, registry: Registry, config: Mapping[str, Any], label: str,
             factory: Callable[[], nn.Module], mode: str) -> _Setting:
    model = fresh_model(label, factory)
    model.eval()
    stream = example_batch(model, STREAM_SIZE, SEED)
    targets = tuple(k for k in _ScoringTask.target_keys if k in stream)
    where = f"on model {label}, mode {mode}, {describe_config(config)}"
    if not targets:
        fail(f"example_batch() of model {label} has no target key {list(_ScoringTask.target_keys)}: the stream needs "
             "labels to check that the rule never sees them (choose conformance_models with labels)")
    try:
        tt = stream_config(subject, config, mode, registry)
    except Exception as exc:
        fail(f"the test_time section does not validate: {exc} ({where})")
    return _Setting(subject, recorded, registry, label, model, stream, targets, tt, where)


@conformance_check("learning_rule")
def check_test_time(subject: Subject, *, configs: Any = None, models: Any = None) -> int:
    """A rule with ``adapts_at_test_time``, streamed by the engine's ``evaluate_test_time`` (episodes with
    reset, online and transductive): never sees a target key, adapts and scores identically when the
    labels are permuted and corrupted, gives identical results twice, starts every reset episode from the
    trained model (weights and output) and leaves it restored, keeps outputs and weights finite, and
    starts afresh at every ``begin_episode``."""
    if not getattr(subject.cls, "adapts_at_test_time", False):
        raise SkipCheck("does not adapt at test time (adapts_at_test_time = False): no test-time adaptation to check")
    recorded = _recording(subject.cls)
    registry = Registry()
    registry.register_class("learning_rule", UNDER_TEST, recorded, config=subject.config_cls)
    pinned = getattr(subject.cls, "conformance_test_time", None) or {}
    modes = (pinned["mode"],) if "mode" in pinned else MODES
    checked = 0
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_TRAINING_MODELS):
            for mode in modes:
                setting = _setting(subject, recorded, registry, config, label, factory, mode)
                metrics, first = setting.stream_once(setting.stream)
                _check_labels_hidden(first, setting.where)
                _check_finite(first, setting.where)
                _check_episode_starts(first, setting.where)
                setting.check_restored(first)
                again_metrics, again = setting.stream_once(setting.stream)
                if not _same_metrics(metrics, again_metrics):
                    fail(f"the stream is not deterministic: two runs give different metrics {metrics} vs "
                         f"{again_metrics} ({setting.where})")
                _check_same_run(first, again, "the stream is not deterministic", setting.where)
                _, relabelled = setting.stream_once(_corrupted(setting.stream, setting.targets))
                _check_same_run(first, relabelled, "the labels leak into the adaptation (the stream's labels were "
                                "permuted and corrupted)", setting.where)
                _check_begin_episode_resets(setting)
                checked += 1
    return checked
