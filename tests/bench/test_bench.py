"""``forwardkit bench``: measurements, skips with reasons, the exponent fit, MACs scaling, the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from torch import Tensor, nn

from forwardkit.bench import bench_components, bench_models, fit_exponent
from forwardkit.bench.mixers import spatial_shape
from forwardkit.cli.main import cli
from forwardkit.compose import create
from forwardkit.config import TokenMixerConfig
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import TokenMixer
from forwardkit.measure import count_macs
from forwardkit.parallel import plan_workers
from forwardkit.registry import Registry

MIXER_FIELDS = ("params", "macs", "fwd_ms", "fwdbwd_ms", "tokens_per_s", "peak_mb")


class SequenceOnly(TokenMixer):
    """A rank-1-only mixer (a causal running mean) for the skip test."""

    Config = TokenMixerConfig
    ranks = frozenset({1})

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.proj = nn.Linear(self.dim, self.dim)

    def forward(self, x: Tensor) -> Tensor:
        steps = torch.arange(1, x.shape[1] + 1, dtype=x.dtype).view(1, -1, 1)
        return self.proj(x.cumsum(1) / steps)


class Broken(TokenMixer):
    Config = TokenMixerConfig

    def forward(self, x: Tensor) -> Tensor:
        raise RuntimeError("boom")


@pytest.fixture(scope="module")
def registry():
    reg = Registry.discover(entry_points=False)
    reg.register_class("token_mixer", "seq-only", SequenceOnly)
    reg.register_class("token_mixer", "broken", Broken)
    return reg


def test_fit_exponent_on_synthetic_timings():
    sizes = [64, 256, 1024, 4096]
    assert fit_exponent(sizes, [3e-6 * n**2 for n in sizes]) == pytest.approx(2.0)
    assert fit_exponent(sizes, [0.5 * n for n in sizes]) == pytest.approx(1.0)
    assert fit_exponent(sizes, [7.0] * 4) == pytest.approx(0.0)
    assert fit_exponent([64], [1.0]) is None


def test_spatial_shapes():
    assert spatial_shape(1, 20) == (20,)
    assert spatial_shape(2, 64) == (8, 8)
    assert "not a perfect square" in str(spatial_shape(2, 20))
    assert spatial_shape(3, 64) == (4, 4, 4)


def test_mixers_measured_and_skips_recorded(registry):
    data = bench_components("token_mixer", names=["seq-only", "broken"], ranks=(1, 2), sizes=(16, 20, 64),
                            dim=16, batch=2, workers=1, repeats=2, warmup=1, budget_s=0.2, registry=registry)
    assert data["settings"]["names"][0] == "attention"  # the baseline is always there
    assert data["settings"]["workers"] == 1 and data["settings"]["threads_per_worker"] >= 1
    ok = {(r["name"], r["rank"], r["tokens"]) for r in data["results"]}
    assert {("attention", 1, 16), ("attention", 1, 20), ("attention", 2, 64), ("seq-only", 1, 64)} <= ok
    for row in data["results"]:
        for key in MIXER_FIELDS:
            assert row[key] >= 0 and math.isfinite(row[key]), (row["name"], key)
        assert row["fwd_ms"] > 0 and row["fwdbwd_ms"] > 0 and row["tokens_per_s"] > 0
        assert row["params"] > 0 and row["macs"] > 0
    assert any(r["peak_mb"] > 0 for r in data["results"])
    skipped = {(r["name"], r["rank"], r["tokens"]): r["reason"] for r in data["skipped"]}
    assert "not a perfect square" in skipped[("attention", 2, 20)]
    assert "rank 2 not supported" in skipped[("seq-only", 2, 16)]
    assert "boom" in skipped[("broken", 1, 16)]
    fits = {(e["name"], e["rank"]): e for e in data["exponents"]}
    assert fits[("attention", 1)]["sizes"] == [16, 20, 64]
    assert fits[("attention", 2)]["sizes"] == [16, 64]  # N=20 has no square layout
    assert fits[("attention", 1)]["fwdbwd_exponent"] is not None
    json.dumps(data)  # serialisable


def test_attention_macs_grow_quadratically_and_mlp_linearly():
    attention = create("token_mixer", "attention", dim=32)
    mlp = create("channel_mixer", "mlp", dim=32)

    def macs(module, n):
        x = torch.zeros(1, n, 32)
        return count_macs(lambda: module(x))

    # attention = a*N + b*N^2: second differences over N, 2N, 4N isolate the N^2 term exactly
    m1, m2, m4 = (macs(attention, n) for n in (64, 128, 256))
    assert m2 - 2 * m1 > 0
    assert (m4 - 2 * m2) / (m2 - 2 * m1) == pytest.approx(4.0)
    assert macs(attention, 1024) / macs(attention, 256) > 8  # dominated by the N^2 term at this size
    assert macs(mlp, 256) == 4 * macs(mlp, 64) > 0


def test_channel_mixers_and_models():
    data = bench_components("channel_mixer", names=["mlp"], ranks=(1,), sizes=(16, 64), dim=16, batch=2,
                            workers=1, repeats=2, warmup=1, budget_s=0.2)
    assert [r["tokens"] for r in data["results"]] == [16, 64]
    assert data["exponents"][0]["macs_exponent"] == pytest.approx(1.0)
    models = bench_models(names=["mlp"], batch=4, workers=1, repeats=2, warmup=1, budget_s=0.2)
    (row,) = models["results"]
    assert row["params"] > 0 and row["macs_per_sample"] > 0 and row["samples_per_s"] > 0
    assert row["fwdbwd_ms"] > 0 and row["inputs"]["x"][0] == 4


def test_two_workers_in_spawned_processes():
    data = bench_components("token_mixer", names=["identity"], ranks=(1,), sizes=(16,), dim=8, batch=1,
                            workers=2, repeats=1, warmup=1, budget_s=0.1)
    assert data["settings"]["workers"] == 2
    assert data["settings"]["threads_per_worker"] == max(1, plan_workers(2, 2)[1])
    assert {r["name"] for r in data["results"]} == {"attention", "identity"}
    assert any("interfere" in n for n in data["notes"])


def test_plan_workers_never_exceeds_jobs():
    assert plan_workers(1, None)[0] == 1
    assert plan_workers(3, 8)[0] == 3
    assert plan_workers(5, 1) == (1, plan_workers(5, 1)[1])


def test_cli_json_out_and_errors(tmp_path):
    runner = CliRunner()
    args = ["bench", "channel-mixers", "--names", "mlp", "--sizes", "16,64", "--ranks", "1", "--dim", "8",
            "--batch", "1", "--workers", "1", "--quick", "--json", "--out", str(tmp_path)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "channel_mixer" and len(data["results"]) == 2
    assert (tmp_path / "results.json").exists() and (tmp_path / "scaling.png").stat().st_size > 0
    table = runner.invoke(cli, args[:-4])
    assert table.exit_code == 0 and "fwd+bwd" in table.stdout and "scaling exponent" in table.stdout

    unknown = runner.invoke(cli, ["bench", "mixers", "--names", "nope"])
    assert unknown.exit_code == 2 and "'nope' is not registered" in unknown.output
    bad = runner.invoke(cli, ["bench", "mixers", "--sizes", "64,abc"])
    assert bad.exit_code == 2 and "positive integers" in bad.output


def test_bench_models_cli_reports_every_model(tmp_path):
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "forwardkit", "bench", "models", "--names", "mlp,metaformer",
                           "--batch", "4", "--workers", "1", "--quick", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["name"]: r for r in json.loads(proc.stdout)["results"]}
    assert set(rows) == {"mlp", "metaformer"}
    for row in rows.values():
        assert row["status"] == "ok" and row["params"] > 0 and row["macs_per_sample"] > 0
        assert row["fwd_ms"] > 0 and row["samples_per_s"] > 0
    assert rows["metaformer"]["macs_per_sample"] > rows["mlp"]["macs_per_sample"]


# ---- config fields per component: --set NAME.FIELD=VALUE ------------------------------------------------
def test_set_passes_config_fields_to_the_named_component(tmp_path):
    args = ["bench", "channel-mixers", "--names", "mlp", "--sizes", "16", "--ranks", "1", "--dim", "8", "--batch",
            "1", "--workers", "1", "--quick", "--json"]
    result = CliRunner().invoke(cli, [*args, "--set", "mlp.hidden_dim=4", "--set", "mlp.act=relu"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["settings"]["configs"] == {"mlp": {"hidden_dim": 4, "act": "relu"}}
    (row,) = data["results"]
    assert row["params"] == 8 * 4 + 4 + 4 * 8 + 8  # the default would be hidden 32: 552
    table = CliRunner().invoke(cli, [*args[:-1], "--set", "mlp.hidden_dim=4"])
    assert table.exit_code == 0 and "configs: mlp hidden_dim=4" in table.stdout


def test_set_reaches_models_and_a_second_mixer(registry):
    data = bench_components("token_mixer", names=["seq-only"], ranks=(1,), sizes=(16,), dim=16, batch=1, workers=1,
                            repeats=1, warmup=1, budget_s=0.1, registry=registry,
                            configs={"attention": {"head_dim": 4, "qkv_bias": True}})
    params = {r["name"]: r["params"] for r in data["results"]}
    assert params["attention"] == 16 * 48 + 48 + 16 * 16 + 16  # qkv_bias adds the 48 biases of q, k and v
    assert data["settings"]["configs"] == {"attention": {"head_dim": 4, "qkv_bias": True}}
    small = bench_models(names=["mlp"], batch=2, workers=1, repeats=1, warmup=1, budget_s=0.1,
                         configs={"mlp": {"hidden": [4]}})
    default = create("model", "mlp")
    assert 0 < small["results"][0]["params"] < sum(p.numel() for p in default.parameters())


@pytest.mark.parametrize(("args", "expected"), [
    (["--set", "mlp.mlp_ratio=-1"], "mlp.mlp_ratio: Input should be greater than 0"),
    (["--set", "mlp.ratio=2"], "mlp: unknown field 'ratio' (did you mean 'mlp_ratio'?)"),
    (["--set", "mpl.hidden_dim=4"], "channel_mixer 'mpl' is not registered. Did you mean 'mlp'?"),
    (["--set", "mlp.dim=4"], "mlp.dim: the channels C of every mixer are set by dim (--dim)"),
    (["--set", "mlp=3"], "expected NAME.FIELD=VALUE"),
    (["--set", "mlp.hidden_dim=[4"], "not valid YAML"),
])
def test_set_errors_name_the_component_and_field(args, expected):
    result = CliRunner().invoke(cli, ["bench", "channel-mixers", "--names", "mlp", *args])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split()), result.output


def test_set_for_a_component_that_is_not_measured(registry):
    with pytest.raises(ForwardkitError, match="'broken', which is not measured"):
        bench_components("token_mixer", names=["seq-only"], registry=registry, configs={"broken": {}})
    models = CliRunner().invoke(cli, ["bench", "models", "--names", "mlp", "--set", "mlp.hiden=[8]"])
    assert models.exit_code == 2 and "mlp: unknown field 'hiden' (did you mean 'hidden'?)" in models.output


class FixedTokensConfig(TokenMixerConfig):
    num_tokens: int | None = None


class FixedTokens(TokenMixer):
    """A token MLP of a fixed size (Linear over the N tokens): fields_for_input gives it N for each size."""

    Config = FixedTokensConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        if self.config.num_tokens is None:
            raise ValueError("needs num_tokens")
        self.mix = nn.Linear(self.config.num_tokens, self.config.num_tokens)

    @classmethod
    def fields_for_input(cls, spatial):
        return {} if None in spatial else {"num_tokens": math.prod(spatial)}

    def supports(self, spatial):
        return math.prod(spatial) == self.config.num_tokens

    def forward(self, x: Tensor) -> Tensor:
        t = x.reshape(x.shape[0], -1, x.shape[-1]).transpose(1, 2)
        return self.mix(t).transpose(1, 2).reshape(x.shape)


def test_each_size_gets_a_mixer_built_for_its_exact_grid():
    reg = Registry.discover(entry_points=False)
    reg.register_class("token_mixer", "fixed-tokens", FixedTokens)
    data = bench_components("token_mixer", names=["fixed-tokens"], ranks=(1, 2), sizes=(16, 36), dim=8, batch=2,
                            workers=1, repeats=2, warmup=1, budget_s=0.2, registry=reg)
    params = {(r["rank"], r["tokens"]): r["params"] for r in data["results"] if r["name"] == "fixed-tokens"}
    assert params == {(1, 16): 16 * 16 + 16, (1, 36): 36 * 36 + 36, (2, 16): 16 * 16 + 16, (2, 36): 36 * 36 + 36}
    shapes = {(r["rank"], r["tokens"]): r["shape"] for r in data["results"] if r["name"] == "fixed-tokens"}
    assert shapes[(2, 36)] == [6, 6]
