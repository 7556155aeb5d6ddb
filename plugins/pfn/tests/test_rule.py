"""The weighted eval-position sampler, the learning-rate schedule and one rule step (loss on the queries only,
one s per micro-batch, the task's bar attached to the model, clipping)."""

from __future__ import annotations

import pytest
import torch
from forwardkit_pfn.bar import BarDistributionTask
from forwardkit_pfn.model import PFNTransformer
from forwardkit_pfn.positions import eval_pos_probabilities, sample_eval_pos
from forwardkit_pfn.rule import PriorFittingRule, cosine_with_warmup, official_default_lr

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext


def test_weighted_sampler_frequencies_match_one_over_T_minus_k():
    t, top, n = 50, 40, 100_000
    draws = sample_eval_pos(t, top, "weighted", generator=torch.Generator().manual_seed(0), n=n)
    freq = torch.bincount(draws, minlength=top + 1).double()
    k = torch.arange(top + 1, dtype=torch.float64)
    p = (1 / (t - k)) / (1 / (t - k)).sum()
    assert torch.allclose(eval_pos_probabilities(t, top), p)
    sigma = (n * p * (1 - p)).sqrt()
    assert bool(((freq - n * p).abs() <= 3 * sigma).all())
    # expected query losses per k are equal: P(s=k) (T - k) is constant
    assert torch.allclose(p * (t - k), (p * (t - k))[0].expand(top + 1))
    uniform = eval_pos_probabilities(t, top, "uniform")
    assert torch.allclose(uniform, torch.full_like(uniform, 1 / (top + 1)))


def test_schedule_warms_up_then_decays_by_cosine():
    assert cosine_with_warmup(0, 100, 10) == 0.0 and cosine_with_warmup(5, 100, 10) == 0.5
    assert cosine_with_warmup(10, 100, 10) == 1.0
    assert cosine_with_warmup(55, 100, 10) == pytest.approx(0.5)
    assert cosine_with_warmup(100, 100, 10) == pytest.approx(0.0, abs=1e-12)
    assert cosine_with_warmup(70, 100, 10, "constant") == 1.0
    assert official_default_lr(589_156) == pytest.approx(0.003239 - 0.0001395 * 13.2865, abs=1e-6)


def _setup(**rule):
    torch.manual_seed(0)
    model = PFNTransformer(d_model=16, n_heads=2, n_layers=1, d_ff=16, num_buckets=8)
    task = BarDistributionTask(num_buckets=8, prior_sample_size=2000, prior={"name": "gp_prior", "seq_len": 10,
                                                                             "max_train_points": 5})
    r = PriorFittingRule(max_train_points=5, lr=1e-3, **rule)
    ctx = RunContext(model=model, loss_fn=task.loss, total_steps=10)
    ctx.extra["task"] = task
    r.setup(model, ctx)
    return model, task, r, ctx


def _batch(b: int = 6, t: int = 10) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"x": torch.rand(b, t, 1, generator=g), "y": torch.randn(b, t, generator=g),
            "eval_pos": torch.zeros(b, dtype=torch.long)}


def test_setup_attaches_the_tasks_bar_to_the_model():
    model, task, _, _ = _setup()
    assert torch.equal(model.bar.borders, task.borders) and model.bar.full_support == task.bar.full_support


def test_one_step_scores_the_queries_of_one_sampled_eval_position():
    model, _task, rule, ctx = _setup(grad_clip=0.5)
    seen = []
    ctx.forward = lambda b: (seen.append(b["eval_pos"].clone()), model.forward_batch(b))[1]
    before = [p.detach().clone() for p in model.parameters()]
    metrics = rule.step(_batch(), ctx)
    assert len(seen) == 1 and seen[0].unique().numel() == 1 and int(seen[0][0]) == metrics["eval_pos"]
    assert metrics["grad_norm"] > 0 and metrics["lr"] == 0.0  # the first warm-up step has lr 0 (official)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    rule.step(_batch(), ctx)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_accumulation_draws_one_eval_position_per_micro_batch():
    model, _, rule, ctx = _setup(accumulate=3)
    sizes = []
    ctx.forward = lambda b: (sizes.append(b["x"].shape[0]), model.forward_batch(b))[1]
    rule.step(_batch(), ctx)
    assert sizes == [2, 2, 2]


def test_rule_state_resumes_the_eval_position_stream():
    _, _, rule, ctx = _setup()
    rule.step(_batch(), ctx)
    state = rule.state_dict()
    a = [rule.draw_eval_pos(10) for _ in range(5)]
    rule.load_state_dict(state)
    assert [rule.draw_eval_pos(10) for _ in range(5)] == a


def test_rule_explains_a_wrong_task_or_too_short_datasets():
    model = PFNTransformer(d_model=16, n_heads=2, n_layers=1, d_ff=16, num_buckets=8)
    ctx = RunContext(model=model, total_steps=2)
    ctx.extra["task"] = object()
    with pytest.raises(ForwardkitError, match="bar_distribution"):
        PriorFittingRule().setup(model, ctx)
    _, _, rule, ctx = _setup()
    with pytest.raises(ForwardkitError, match="max_train_points"):
        rule.step(_batch(t=5), ctx)
