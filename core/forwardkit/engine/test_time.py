"""Test-time learning: a rule adapts on the evaluation stream, without labels, episode by episode.

After training, each split named by ``experiment.test_time.splits`` is streamed through the test-time
rule in a deterministic order (the split's own, or a fixed permutation) and cut into episodes
(``episode_batches``; 0 is the whole split). At every episode start, with ``reset``, the trained model is
restored and the rule is created afresh, so episodes are independent. Within an episode:

- ``online``: for each batch, ``rule.adapt(model, unlabelled batch)``, then its output is scored;
- ``transductive``: the rule adapts on every batch of the episode first, then each batch is scored.

The batches the rule sees have the task's ``target_keys`` removed, so labels are never visible to it;
the task scores the outputs against the full batches. Metrics are ``tta/<split>/<name>``. When the
stream is done, the trained model (weights, train/eval modes, ``requires_grad``) is restored, so what
runs afterwards (compressors, analyzers, the returned model) sees the trained model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.compose import create
from forwardkit.config import TestTimeConfig
from forwardkit.engine.data import loader, to_device
from forwardkit.engine.seeding import seed_everything
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext, Task
from forwardkit.interfaces.task import accumulate, averages
from forwardkit.registry import Registry


def unlabelled(batch: Mapping[str, Any], task: Task) -> dict[str, Any]:
    """``batch`` without the task's target keys: what a test-time rule may see."""
    return {k: v for k, v in batch.items() if k not in task.target_keys}


def stream_order(n: int, seed: int | None) -> list[int]:
    """The order samples are streamed in: ``0..n-1``, or a permutation fixed by ``seed``."""
    if seed is None:
        return list(range(n))
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator).tolist()


def episodes(order: list[int], batch_size: int, episode_batches: int) -> list[list[list[int]]]:
    """The stream cut into batches of indices, and the batches into episodes."""
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if episode_batches == 0:
        return [batches] if batches else []
    return [batches[i:i + episode_batches] for i in range(0, len(batches), episode_batches)]


@contextmanager
def preserved(model: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Restore ``model``'s weights, modes and ``requires_grad`` flags on exit; yields the saved weights."""
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = {name: m.training for name, m in model.named_modules()}
    grads = {name: p.requires_grad for name, p in model.named_parameters()}
    try:
        yield weights
    finally:
        model.load_state_dict(weights)
        for name, m in model.named_modules():
            m.training = modes[name]
        for name, p in model.named_parameters():
            p.requires_grad_(grads[name])


def make_rule(config: TestTimeConfig, registry: Registry | None) -> LearningRule:
    rule = create("learning_rule", config.rule.name, config.rule.config, registry=registry)
    if not getattr(rule, "adapts_at_test_time", False):
        raise ForwardkitError(f"test_time.rule: learning rule {config.rule.name!r} does not adapt at test time "
                              "(its class does not set adapts_at_test_time = True)")
    return rule


def score(rule: LearningRule, model: nn.Module, visible: dict[str, Any], output: Any) -> Any:
    """The output the task scores: the rule's own, else its prediction after the update."""
    if output is not None:
        return output
    with torch.no_grad():
        return rule.predict(model, visible)


def run_episode(rule: LearningRule, model: nn.Module, batches: list[dict[str, Any]], task: Task, ctx: RunContext,
                mode: str, totals: dict[str, list[float]]) -> None:
    """Adapt on one episode and add its batches' metrics into ``totals``."""
    model.eval()
    rule.begin_episode(model, ctx)
    if mode == "online":
        for batch in batches:
            visible = unlabelled(batch, task)
            output = score(rule, model, visible, rule.adapt(model, visible, ctx))
            accumulate(totals, task.metrics(_detached(output), batch))
            ctx.step += 1
        return
    for batch in batches:
        rule.adapt(model, unlabelled(batch, task), ctx)
        ctx.step += 1
    model.eval()
    for batch in batches:
        output = score(rule, model, unlabelled(batch, task), None)
        accumulate(totals, task.metrics(_detached(output), batch))


def _detached(output: Any) -> Any:
    return output.detach() if isinstance(output, Tensor) else output


def evaluate_test_time(
    config: TestTimeConfig,
    *,
    model: nn.Module,
    dataset: Any,
    task: Task,
    device: torch.device,
    batch_size: int,
    seed: int,
    registry: Registry | None = None,
) -> dict[str, float]:
    """Stream every split of ``config.splits`` through a fresh test-time rule; ``tta/<split>/<metric>``."""
    out: dict[str, float] = {}
    size = config.batch_size or batch_size
    with preserved(model) as trained:
        for split in config.splits:
            data = dataset.split(split)
            seed_everything(seed)
            ctx = RunContext(model=model, device=device)
            ctx.extra.update(task=task, test_time_split=split)
            totals: dict[str, list[float]] = {}
            rule = make_rule(config, registry)
            for i, indices in enumerate(episodes(stream_order(len(data), config.stream_seed), size,
                                                 config.episode_batches)):
                if config.reset and i > 0:
                    model.load_state_dict(trained)
                    rule = make_rule(config, registry)
                batches = [to_device(b, device) for b in loader(data, indices)]
                run_episode(rule, model, batches, task, ctx, config.mode, totals)
            out.update({f"tta/{split}/{k}": v for k, v in averages(totals).items()})
            model.load_state_dict(trained)
    return out
