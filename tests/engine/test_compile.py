"""``trainer.compile`` and ``bench --compile``: compiled and eager agree, a compiled run's checkpoints hold the
model's own keys and resume, and where torch.compile cannot work the error says why and how to do without."""

from __future__ import annotations

import pytest
import torch

import forwardkit as fk
from forwardkit.bench import bench_models
from forwardkit.engine.compiling import BatchForward, compile_forward, compile_unavailable
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ForwardkitError

from .conftest import final_weights


def _experiment(**trainer):
    return {
        "name": "compiled",
        "data": {"name": "blobs", "n_samples": 160, "num_classes": 3},
        "model": {"name": "mlp", "hidden": [16]},
        "learning_rule": {"name": "backprop", "lr": 0.01},
        "trainer": {"batch_size": 32, "progress": "none", "plots": False, "eval_every": 0, "compile": True,
                    **trainer},
        "seed": 3,
    }


@pytest.fixture
def no_cxx():
    """inductor finds no C++ compiler (its config's own patch, which restores the setting afterwards)."""
    from torch._inductor import config

    with config.patch({"cpp.cxx": ("no-such-c++-compiler-here",)}):
        yield


@pytest.mark.slow
def test_compiled_forward_agrees_and_a_compiled_run_checkpoints_and_resumes(tmp_path):
    if compile_unavailable("cpu") is not None:
        pytest.skip(compile_unavailable("cpu"))
    torch.manual_seed(0)
    model = fk.create("model", "mlp", in_features=16, hidden=[16], num_classes=3)
    batch = model.example_batch(8, generator=torch.Generator().manual_seed(1))
    compiled = compile_forward(BatchForward(model), device="cpu")
    eager_out = model.forward_batch(batch)
    eager = torch.autograd.grad(eager_out.square().sum(), list(model.parameters()))
    out = compiled(batch)
    grads = torch.autograd.grad(out.square().sum(), list(model.parameters()))
    torch.testing.assert_close(out, eager_out, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads, eager, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)

    run = tmp_path / "run"
    first = Trainer(_experiment(max_steps=3), run_dir=run, verbose=False).fit()
    assert first.steps == 3 and 0.0 <= first.final["test/accuracy"] <= 1.0
    saved = final_weights(run)
    assert set(saved) == set(first.model.state_dict()) and not any("_orig_mod" in k for k in saved)
    resumed = Trainer(_experiment(max_steps=5), run_dir=run, resume=True, verbose=False).fit()
    assert resumed.steps == 5 and resumed.final["test/accuracy"] == resumed.final["test/accuracy"]
    eager_run = Trainer(_experiment(max_steps=5, compile=False), write=False, verbose=False).fit()
    for key, value in eager_run.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, atol=1e-4, rtol=1e-4)


def test_without_a_cxx_compiler_the_trainer_says_why_and_how_to_train(no_cxx, tmp_path):
    with pytest.raises(ForwardkitError, match=r"trainer\.compile: .*C\+\+ compiler.*trainer\.compile: false"):
        Trainer(_experiment(max_steps=1), write=False, verbose=False).fit()
    with pytest.raises(ForwardkitError, match=r"--compile: .*C\+\+ compiler.*without --compile"):
        bench_models(names=["mlp"], batch=2, compile=True)
    from click.testing import CliRunner

    from forwardkit.cli.main import cli

    result = CliRunner().invoke(cli, ["bench", "channel-mixers", "--names", "mlp", "--compile", "--quick"])
    assert result.exit_code == 2 and "C++ compiler" in result.output


def test_a_compiler_failure_on_the_first_call_becomes_a_forwardkit_error(monkeypatch):
    from torch._inductor import exc

    class Failing:
        def __call__(self, *args, **kwargs):
            raise exc.InvalidCxxCompiler()

    monkeypatch.setattr(torch, "compile", lambda module, **kw: Failing())
    monkeypatch.setattr("forwardkit.engine.compiling.compile_unavailable", lambda device: None)
    forward = compile_forward(torch.nn.Linear(2, 2), device="cpu")
    with pytest.raises(ForwardkitError, match=r"torch\.compile failed.*trainer\.compile: false"):
        forward(torch.randn(1, 2))
