"""Dataset, task, partial-variate callback and analyzer of the plugin."""

import numpy as np
import pytest
import torch
from forwardkit_itransformer.data import lagged_multivariate
from forwardkit_itransformer.partial import sample_variates, select_variates

import forwardkit
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ConfigError, ForwardkitError

SMALL_DATA = {"name": "lagged_multivariate", "num_variates": 6, "num_drivers": 2, "length": 600,
              "lookback": 24, "horizon": 6, "stride": 3}
SMALL_MODEL = {"name": "itransformer", "d_model": 16, "num_heads": 2, "d_ff": 16, "num_layers": 2}


def test_variates_are_lagged_copies_of_their_driver():
    values, p = lagged_multivariate(num_variates=8, num_drivers=2, length=800, max_lag=12, noise=0.0, seed=3)
    lags, which, gains = p["lags"], p["driver_of"], p["gains"]
    a, b = 0, 2  # both on driver 0
    assert which[a] == which[b]
    shift = lags[b] - lags[a]  # v_b(t) = g_b d(t - lag_b) = (g_b / g_a) v_a(t - shift)
    va, vb = values[:, a], values[:, b]
    pairs = (va[: len(va) - shift], vb[shift:]) if shift >= 0 else (va[-shift:], vb[: len(vb) + shift])
    assert np.allclose(pairs[1], gains[b] / gains[a] * pairs[0], atol=1e-9)


def test_dataset_windows_and_covariates():
    ds = forwardkit.create("dataset", "lagged_multivariate", **{k: v for k, v in SMALL_DATA.items() if k != "name"},
                           distractors=2, covariates=True)
    md = ds.metadata
    assert md.task == "forecasting" and md.input_shape == (24, 8) and md.target_shape == (6, 8)
    train = ds.split("train")
    assert train[0]["x_mark"].shape == (24, 4)
    x = train.x.reshape(-1, 8)
    assert abs(float(x.mean())) < 0.2  # z-scored on train


def test_task_reports_every_horizon_step_exactly():
    task = forwardkit.create("task", "forecasting_horizons", horizons=[2, 4])
    pred, y = torch.randn(5, 4, 3), torch.randn(5, 4, 3)
    m = task.metrics(pred, {"y": y})
    err = (pred - y)
    for k in range(4):
        s, c = m[f"mse@step{k + 1}"]
        assert c == 15 and abs(s / c - float(err[:, k].pow(2).mean())) < 1e-5
        s, c = m[f"mae@step{k + 1}"]
        assert abs(s / c - float(err[:, k].abs().mean())) < 1e-5
    s, c = m["mse@h2"]
    assert abs(s / c - float(err[:, :2].pow(2).mean())) < 1e-5
    assert abs(m["mse"][0] / m["mse"][1] - float(torch.nn.functional.mse_loss(pred, y))) < 1e-5
    assert torch.isclose(task.loss(pred.reshape(5, -1), {"y": y}), torch.nn.functional.mse_loss(pred, y))


def test_task_config_in_the_experiment_reaches_the_task():
    exp = {"name": "itr-task", "data": SMALL_DATA, "model": SMALL_MODEL,
           "trainer": {"task": {"name": "forecasting_horizons", "per_step": False, "horizons": [3]}}}
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.build()
    assert trainer.task.config.per_step is False and trainer.task.config.horizons == [3]
    batch = trainer.dataset.split("test")[:4]
    keys = set(trainer.task.metrics(trainer.model(batch["x"]), batch))
    assert keys == {"mse", "mae", "loss", "mse@h3", "mae@h3"}
    with pytest.raises(ConfigError, match="horizons"):
        Trainer({**exp, "trainer": {"task": {"name": "forecasting_horizons", "horizons": [0]}}}, write=False)


def test_partial_variates_one_subset_per_batch():
    g = torch.Generator().manual_seed(0)
    idx = sample_variates(10, 0.2, g)
    assert idx.tolist() == sorted(idx.tolist()) and len(idx) == 2
    batch = {"x": torch.randn(4, 8, 10), "y": torch.randn(4, 3, 10), "x_mark": torch.randn(4, 8, 2)}
    out = select_variates(batch, idx)
    assert torch.equal(out["x"], batch["x"][..., idx]) and torch.equal(out["y"], batch["y"][..., idx])
    assert out["x_mark"] is batch["x_mark"]
    with pytest.raises(ForwardkitError, match="every variate"):
        select_variates({"x": torch.randn(2, 8, 10), "y": torch.randn(2, 3, 4)}, idx)


def test_training_with_partial_variates_and_analysis():
    exp = {"name": "itr-partial", "data": SMALL_DATA, "model": SMALL_MODEL,
           "callbacks": [{"name": "partial_variate_training", "fraction": 0.5}],
           "analyzers": ["variate_attention"],
           "trainer": {"epochs": 1, "max_steps": 4, "batch_size": 16, "progress": "none",
                       "task": {"name": "forecasting_horizons", "horizons": [2, 6]}}}
    trainer = Trainer(exp, write=False, verbose=False)
    seen = []
    trainer.build()
    model = trainer.model
    original = model.forward

    def spy(x, x_mark=None):
        seen.append(x.shape[-1])
        return original(x, x_mark)

    model.forward = spy
    result = trainer.fit()
    assert seen[:4] == [3, 3, 3, 3] and seen[-1] == 6  # training on half the variates, evaluation on all
    assert "test/mse@step6" in result.final and "val/mae@step1" in result.final
    assert "test/mse@h2" in result.final and "val/mae@h6" in result.final  # the task's config was used
    assert abs(result.final["test/mse@h6"] - result.final["test/mse"]) < 1e-6
    keys = [k for k in result.final if k.startswith("analysis/variate_attention/")]
    assert {"analysis/variate_attention/layer0/vs_lookback", "analysis/variate_attention/layer1/vs_future"} <= set(keys)
    assert all(-1.0 <= result.final[k] <= 1.0 for k in keys)


def test_analyzer_rejects_other_models_and_draws_a_figure():
    analyzer = forwardkit.create("analyzer", "variate_attention", figure=True)
    with pytest.raises(ForwardkitError, match="inverted forecaster"):
        analyzer.analyze(forwardkit.create("model", "rlinear", lookback=8, horizon=2))
    model = forwardkit.create("model", "itransformer", lookback=8, horizon=3, d_model=8, num_heads=2, d_ff=8)
    analysis = analyzer.analyze(model)
    assert "maps" in analysis.figures and "layer0/vs_future" in analysis.numbers
    analysis.close()


def test_scores_that_copy_the_correlations_score_one():
    from forwardkit_itransformer.analyzer import correlation_matrix, map_correlation

    x = torch.randn(4, 30, 5)
    c = correlation_matrix(x)
    assert torch.allclose(c.diagonal(dim1=1, dim2=2), torch.ones(4, 5), atol=1e-5)
    assert torch.allclose(map_correlation(3 * c + 1, c), torch.ones(4), atol=1e-5)
