"""The conformance kit catches broken components, honours expected failures and counts right.

Every check has at least one deliberately broken toy component here that it must flag, next to a
well-behaved one it must pass.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any, ClassVar, Literal

import pytest
import torch
import torch.nn.functional as F
from pydantic import Field, field_serializer
from torch import Tensor, nn
from torch.utils.data import Dataset as TorchDataset

from forwardkit.config import ChannelMixerConfig, ComponentConfig, TokenMixerConfig
from forwardkit.interfaces import (
    Adapter,
    Analysis,
    Analyzer,
    Callback,
    ChannelMixer,
    CompressionReport,
    Compressor,
    Dataset,
    DatasetMetadata,
    LearningRule,
    ModelFigures,
    TokenMixer,
)
from forwardkit.testing import (
    ConformanceReport,
    SkipCheck,
    check_adapter,
    check_adapter_inplace,
    check_adapter_signature,
    check_analyzer,
    check_analyzer_output,
    check_batch_independence,
    check_callback,
    check_callback_events,
    check_causality,
    check_channel_mixer,
    check_component,
    check_compressor,
    check_compressor_report,
    check_compressor_signature,
    check_config_round_trip,
    check_dataset,
    check_dataset_determinism,
    check_dataset_items,
    check_dataset_sizes,
    check_declarations,
    check_determinism,
    check_finite,
    check_forward_batch,
    check_gradients,
    check_learning_rule,
    check_learning_rule_step,
    check_model,
    check_output_shape,
    check_pointwise,
    check_state_dict_plain,
    check_state_dict_round_trip,
    check_token_mixer,
    checks_for,
    measure_model,
    run_check,
)
from forwardkit.testing.toys import ToyNet, default_loss

TOY = {"models": ["toy"]}  # keep adapter/compressor/analyzer checks on the kit's own toy model


def flags(check: Any, component: Any, match: str, **options: Any) -> None:
    """``check`` raises an AssertionError whose message contains ``match``."""
    with pytest.raises(AssertionError, match=match):
        check(component, **options)


# ================================================================================================
# token mixers
# ================================================================================================
class CumMeanConfig(TokenMixerConfig):
    dim: int = Field(16, ge=1)
    causal: bool = True
    bias: bool = True
    act: Literal["gelu", "relu"] = "gelu"
    drop: float = Field(0.0, ge=0.0, lt=1.0)


class CumMean(TokenMixer):
    """Well behaved: (causal) cumulative mean over flattened tokens, then a Linear."""

    Config = CumMeanConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.causal = self.config.causal
        self.proj = nn.Linear(self.dim, self.dim, bias=self.config.bias)
        self.drop = nn.Dropout(self.config.drop)

    def forward(self, x: Tensor) -> Tensor:
        t = x.flatten(1, -2)  # (B, N, C)
        if self.causal:
            counts = torch.arange(1, t.shape[1] + 1, dtype=t.dtype).view(1, -1, 1)
            mixed = t.cumsum(1) / counts
        else:
            mixed = t.mean(1, keepdim=True).expand_as(t)
        act = F.gelu if self.config.act == "gelu" else F.relu
        return self.drop(self.proj(act(mixed))).reshape(x.shape)


class ShapeChanger(CumMean):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)[:, :-1]


class RankLiar(CumMean):
    """Declares ranks 1-3 but refuses images."""

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) == 1


class BatchMixer(CumMean):
    """Mixes across the batch, even in eval mode."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + x.mean(0, keepdim=True)


class LeakyCausal(CumMean):
    """Says causal=True, but looks at the whole sequence."""

    def forward(self, x: Tensor) -> Tensor:
        t = x.flatten(1, -2)
        return self.proj(t + t.mean(1, keepdim=True)).reshape(x.shape)


class NaNMixer(CumMean):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + torch.log(x)  # log of negative inputs


class UnusedParam(CumMean):
    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.forgotten = nn.Parameter(torch.zeros(self.dim))


class DetachedInput(CumMean):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.detach())


class StateLeak(CumMean):
    """A random scale kept in a plain attribute: not in the state_dict."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.scale = torch.randn(self.dim)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) * self.scale


class Unseeded(CumMean):
    """Initialises from a fresh, unseeded generator: not reproducible under torch.manual_seed."""

    counter = itertools.count()

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        gen = torch.Generator().manual_seed(next(self.counter))
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(self.proj.weight.shape, generator=gen))


class LossyConfig(CumMeanConfig):
    scale: float = 0.25

    @field_serializer("scale")
    def _rounded(self, value: float) -> float:
        return round(value, 1)


class LossyConfigMixer(CumMean):
    Config = LossyConfig


class NonCausalMixer(CumMean):
    """Never causal, whatever the config says: causality is skipped."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.causal = False


def test_good_token_mixer_passes_every_check() -> None:
    report = check_token_mixer(CumMean)
    assert report.ok and report.failed == 0 and report.skipped == 0
    assert report.passed == len(checks_for("token_mixer"))


def test_output_shape_is_checked() -> None:
    flags(check_output_shape, ShapeChanger, r"output shape .* != input shape")


def test_declared_ranks_must_be_accepted() -> None:
    flags(check_output_shape, RankLiar, r"ranks \[2, 3\] are declared")


def test_batch_independence_is_checked() -> None:
    flags(check_batch_independence, BatchMixer, r"sample \d changed .* only sample \d of the batch changed")


def test_causality_leak_is_flagged() -> None:
    flags(check_causality, LeakyCausal, r"declared causal, but the output at flattened position")


def test_causality_is_skipped_for_non_causal_mixers() -> None:
    with pytest.raises(SkipCheck, match="not causal"):
        check_causality(NonCausalMixer)
    outcome = run_check("check_causality", NonCausalMixer)
    assert outcome.status == "skipped" and "not causal" in outcome.message


def test_causality_forces_a_causal_config_field() -> None:
    # CumMean is causal only when config.causal is True: the check sets it and verifies the mask
    check_causality(CumMean, configs=[{"causal": False}])


def test_finite_outputs_are_checked() -> None:
    flags(check_finite, NaNMixer, "non-finite output")


def test_gradients_reach_every_parameter_and_the_input() -> None:
    flags(check_gradients, UnusedParam, r"no gradient reached trainable parameter\(s\) \['forgotten'\]")
    flags(check_gradients, DetachedInput, "does not require grad|no gradient reached the input")


def test_state_dict_round_trip_is_checked() -> None:
    flags(check_state_dict_round_trip, StateLeak, "load_state_dict.*different eval output")


def test_determinism_is_checked() -> None:
    flags(check_determinism, Unseeded, r"torch.manual_seed")


def test_config_round_trip_is_checked() -> None:
    flags(check_config_round_trip, LossyConfigMixer, "does not round-trip through JSON")


def test_failures_name_the_falsifying_case() -> None:
    outcome = run_check("check_output_shape", ShapeChanger)
    assert outcome.status == "failed"
    assert "MixerCase(config=" in outcome.message  # hypothesis' note on the explicit/drawn example


# ================================================================================================
# channel mixers
# ================================================================================================
class PerTokenConfig(ChannelMixerConfig):
    dim: int = Field(16, ge=1)
    ratio: float = Field(2.0, gt=0)


class PerToken(ChannelMixer):
    Config = PerTokenConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        hidden = max(1, round(self.config.ratio * self.dim))
        self.fc1, self.fc2 = nn.Linear(self.dim, hidden), nn.Linear(hidden, self.dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SneakyTokenMixing(PerToken):
    """Declares pointwise (the default) but adds the mean token."""

    def forward(self, x: Tensor) -> Tensor:
        t = x.flatten(1, -2)
        return super().forward(x) + t.mean(1, keepdim=True).unsqueeze(1).reshape(x.shape[0], *([1] * (x.dim() - 2)), -1)


class DepthwiseFFN(PerToken):
    """Honestly not pointwise: a 3-tap depthwise filter over the flattened tokens."""

    pointwise = False

    def forward(self, x: Tensor) -> Tensor:
        t = x.flatten(1, -2)
        shifted = torch.cat([t[:, :1], t[:, :-1]], dim=1)
        return super().forward((t + shifted).reshape(x.shape))


def test_good_channel_mixer_passes() -> None:
    report = check_channel_mixer(PerToken)
    assert report.ok and report.passed == len(checks_for("channel_mixer"))


def test_pointwise_claim_is_checked() -> None:
    flags(check_pointwise, SneakyTokenMixing, r"declared pointwise, but the output at token \d+ changed")


def test_pointwise_is_skipped_when_not_claimed() -> None:
    report = check_channel_mixer(DepthwiseFFN)
    assert report.status_of("check_pointwise") == "skipped"
    assert report.ok and report.skipped == 1


# ================================================================================================
# models
# ================================================================================================
class FrozenHeadNet(ToyNet):
    """A parameter that never takes part in the forward pass."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.unused_head = nn.Linear(self.config.width, self.config.num_classes)


class BatchStatsNet(ToyNet):
    """Normalises with batch statistics even in eval mode: samples influence each other."""

    expected_failures: ClassVar[dict[str, str]] = {"check_batch_independence": "normalises with batch statistics"}

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return (out - out.mean(0, keepdim=True)) / (out.std(0, keepdim=True) + 1e-5)


class BufferlessNet(ToyNet):
    """Keeps a running mean in a plain attribute that training updates: lost by state_dict."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.running = torch.zeros(self.config.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        if self.training:
            self.running = 0.5 * self.running + 0.5 * out.detach().mean(0)
        return out - self.running


class BadBatchNet(ToyNet):
    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {"x": torch.randn(batch_size, 5, 5, 2, generator=generator)}  # wrong channels


def test_good_model_passes() -> None:
    report = check_model(ToyNet)
    assert report.ok and report.passed == len(checks_for("model"))


def test_model_parameter_without_gradient_is_flagged() -> None:
    flags(
        check_gradients,
        FrozenHeadNet,
        r"no gradient reached trainable parameter\(s\) \['unused_head.weight', 'unused_head.bias'\]",
    )


def test_model_batch_independence_is_checked_and_expected_failure_is_xfail() -> None:
    flags(check_batch_independence, BatchStatsNet, "sample 0 changed")
    report = check_model(BatchStatsNet, raise_on_failure=False)
    assert report.status_of("check_batch_independence") == "xfailed"
    assert "normalises with batch statistics" in report.get("BatchStatsNet", "check_batch_independence").message
    assert report.ok  # an expected failure is not a failure


def test_model_state_dict_round_trip_is_checked() -> None:
    flags(check_state_dict_round_trip, BufferlessNet, "different eval output")


def test_model_example_batch_must_fit_forward_batch() -> None:
    flags(check_forward_batch, BadBatchNet, r"forward_batch\(example_batch\(\)\) raised")


# ================================================================================================
# adapters
# ================================================================================================
class ReluSwap(Adapter):
    """Replaces GELU by ReLU in place."""

    inplace = True
    Config = ComponentConfig

    def apply(self, model: nn.Module) -> nn.Module:
        for name, child in list(model.named_children()):
            if isinstance(child, nn.GELU):
                setattr(model, name, nn.ReLU())
        return model


class ScaledCopyConfig(ComponentConfig):
    factor: float = 0.5


class ScaledCopy(Adapter):
    """Returns a scaled copy; the given model stays as it was."""

    Config = ScaledCopyConfig

    def apply(self, model: nn.Module) -> nn.Module:
        new = copy.deepcopy(model)
        with torch.no_grad():
            for p in new.parameters():
                p.mul_(self.config.factor)
        return new

    def loss(self, model: nn.Module, batch: Any, output: Any) -> Tensor:
        return sum(p.pow(2).sum() for p in model.parameters()) * 0.0


class CopyLiar(ScaledCopy):
    """Says it copies (inplace=False) but changes the given model."""

    def apply(self, model: nn.Module) -> nn.Module:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(self.config.factor)
        return model


class InplaceLiar(ScaledCopy):
    inplace = True  # but apply() returns a copy


class Wrapper(ScaledCopy):
    """Wraps without copying: shares the given model's parameters."""

    def apply(self, model: nn.Module) -> nn.Module:
        return nn.Sequential(model)


class HeadSwap(ScaledCopy):
    """Breaks the call signature: the head has one more output."""

    def apply(self, model: nn.Module) -> nn.Module:
        new = copy.deepcopy(model)
        new.head = nn.Linear(new.head.in_features, new.head.out_features + 1)
        return new


def test_good_adapters_pass() -> None:
    assert check_adapter(ReluSwap, **TOY).ok
    assert check_adapter(ScaledCopy, **TOY).ok


def test_adapters_work_on_the_builtin_metaformer_by_default() -> None:
    assert check_adapter(ScaledCopy).ok


def test_adapter_inplace_claims_are_checked() -> None:
    flags(check_adapter_inplace, CopyLiar, "returned the model it was given", **TOY)
    flags(check_adapter_inplace, InplaceLiar, "declares inplace=True but apply", **TOY)
    flags(check_adapter_inplace, Wrapper, "shares trainable parameters", **TOY)


def test_adapter_signature_is_checked() -> None:
    flags(check_adapter_signature, HeadSwap, r"output shapes changed from \[\(2, 4\)\] to \[\(2, 5\)\]", **TOY)


# ================================================================================================
# compressors
# ================================================================================================
class PruneConfig(ComponentConfig):
    amount: float = Field(0.5, ge=0.0, le=1.0)


def _figures(model: nn.Module, nonzero: bool) -> ModelFigures:
    m = measure_model(model)
    return ModelFigures(parameters=m["nonzero_parameters" if nonzero else "parameters"], bytes=m["tensor_bytes"])


class MagnitudePrune(Compressor):
    """Zeroes the smallest weights of a copy; reports non-zero parameters."""

    Config = PruneConfig

    def compress(self, model: nn.Module, data: Any = None) -> tuple[nn.Module, CompressionReport]:
        before = _figures(model, nonzero=True)
        new = copy.deepcopy(model)
        with torch.no_grad():
            for p in new.parameters():
                if p.dim() > 1:
                    cut = p.abs().flatten().kthvalue(max(1, int(self.config.amount * p.numel()))).values
                    p.mul_((p.abs() > cut).to(p.dtype))
        return new, CompressionReport(before=before, after=_figures(new, nonzero=True))


class BoastfulPrune(MagnitudePrune):
    """Reports a quarter of the bytes it actually keeps."""

    def compress(self, model: nn.Module, data: Any = None) -> tuple[nn.Module, CompressionReport]:
        new, report = super().compress(model, data)
        report.after.bytes //= 4
        return new, report


class CountLiar(MagnitudePrune):
    def compress(self, model: nn.Module, data: Any = None) -> tuple[nn.Module, CompressionReport]:
        new, report = super().compress(model, data)
        report.after.parameters = 7
        return new, report


class ShapeBreakingCompressor(MagnitudePrune):
    def compress(self, model: nn.Module, data: Any = None) -> tuple[nn.Module, CompressionReport]:
        new, report = super().compress(model, data)
        new.head = nn.Linear(new.head.in_features, 2)
        return new, CompressionReport(before=report.before, after=_figures(new, nonzero=True))


def test_honest_compressor_passes() -> None:
    assert check_compressor(MagnitudePrune, **TOY).ok
    assert check_compressor(MagnitudePrune).ok  # on the default models too


def test_compressor_report_is_measured_again() -> None:
    flags(check_compressor_report, BoastfulPrune, r"report.after.bytes = \d+, but the kit measures", **TOY)
    flags(check_compressor_report, CountLiar, r"report.after.parameters = 7", **TOY)


def test_compressor_signature_is_checked() -> None:
    flags(check_compressor_signature, ShapeBreakingCompressor, "output shapes changed", **TOY)


# ================================================================================================
# datasets
# ================================================================================================
class TinyDataConfig(ComponentConfig):
    n: int = Field(12, ge=3)
    seed: int = 0


class _Items(TorchDataset):
    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


class TinyData(Dataset):
    """Well behaved: seeded 4x4x1 images, 3 classes, train/val/test of n, n/3, n/3."""

    Config = TinyDataConfig

    def sizes(self) -> dict[str, int]:
        n = self.config.n
        return {"train": n, "val": n // 3, "test": n // 3}

    @property
    def metadata(self) -> DatasetMetadata:
        return DatasetMetadata(task="classification", input_shape=(4, 4, 1), num_classes=3, sizes=self.sizes())

    def generator(self, split: str) -> torch.Generator:
        return torch.Generator().manual_seed(self.config.seed * 10 + self.splits.index(split))

    def split(self, name: str) -> TorchDataset:
        n = self.sizes()[name]
        g = self.generator(name)
        return _Items(torch.randn(n, 4, 4, 1, generator=g), torch.randint(0, 3, (n,), generator=g))


class GlobalRandomData(TinyData):
    def generator(self, split: str) -> torch.Generator | None:  # type: ignore[override]
        return None  # torch's global RNG: differs between instances


class ShapeLiarData(TinyData):
    @property
    def metadata(self) -> DatasetMetadata:
        return DatasetMetadata(task="classification", input_shape=(4, 4, 3), num_classes=3, sizes=self.sizes())


class ClassLiarData(TinyData):
    @property
    def metadata(self) -> DatasetMetadata:
        return DatasetMetadata(task="classification", input_shape=(4, 4, 1), num_classes=2, sizes=self.sizes())


class SizeLiarData(TinyData):
    @property
    def metadata(self) -> DatasetMetadata:
        sizes = {**self.sizes(), "val": 99}
        return DatasetMetadata(task="classification", input_shape=(4, 4, 1), num_classes=3, sizes=sizes)


class TupleItemsData(TinyData):
    def split(self, name: str) -> TorchDataset:
        items = super().split(name)
        return [(items[i]["x"], items[i]["y"]) for i in range(len(items))]  # type: ignore[return-value]


def test_good_dataset_passes() -> None:
    report = check_dataset(TinyData)
    assert report.ok and report.passed == len(checks_for("dataset"))


def test_dataset_determinism_is_checked() -> None:
    flags(check_dataset_determinism, GlobalRandomData, "two instances with the same config yield different items")


def test_dataset_metadata_is_checked() -> None:
    flags(check_dataset_items, ShapeLiarData, r"x has shape \(4, 4, 1\) but metadata.input_shape is \(4, 4, 3\)")
    flags(check_dataset_items, ClassLiarData, r"outside \[0, 2\)")
    flags(check_dataset_items, TupleItemsData, "items must be dicts")
    flags(check_dataset_sizes, SizeLiarData, "split 'val' has 4 items but metadata.sizes says 99")


def test_dataset_conformance_configs_are_used() -> None:
    class Pinned(TinyData):
        conformance_configs: ClassVar[list[dict[str, Any]]] = [{"n": 3}, {"n": 6, "seed": 2}]

    report = check_dataset(Pinned)
    assert report.ok
    # a pinned config that does not validate is flagged by check_declarations
    Pinned.conformance_configs = [{"n": 1}]
    flags(check_declarations, Pinned, r"conformance_configs\[0\] = \{'n': 1\} does not validate")


# ================================================================================================
# analyzers
# ================================================================================================
class WeightNorms(Analyzer):
    Config = ComponentConfig

    def analyze(self, model: nn.Module, data: Any = None) -> Analysis:
        rows = [{"name": n, "norm": float(p.detach().norm())} for n, p in model.named_parameters()]
        return Analysis(numbers={"total_norm": math.sqrt(sum(r["norm"] ** 2 for r in rows))}, tables={"norms": rows})


class NaNAnalyzer(WeightNorms):
    def analyze(self, model: nn.Module, data: Any = None) -> Analysis:
        return Analysis(numbers={"ratio": float("nan")})


class EmptyAnalyzer(WeightNorms):
    def analyze(self, model: nn.Module, data: Any = None) -> Analysis:
        return Analysis()


def test_analyzers() -> None:
    assert check_analyzer(WeightNorms).ok
    flags(check_analyzer_output, NaNAnalyzer, "finite numbers", **TOY)
    flags(check_analyzer_output, EmptyAnalyzer, "empty Analysis", **TOY)


# ================================================================================================
# learning rules and callbacks
# ================================================================================================
class SGDConfig(ComponentConfig):
    lr: float = Field(0.05, gt=0)


class PlainSGD(LearningRule):
    Config = SGDConfig

    def setup(self, model: nn.Module, ctx: Any) -> None:
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=self.config.lr, momentum=0.9)
        self.steps = 0

    def step(self, batch: Any, ctx: Any) -> dict[str, float]:
        self.optimizer.zero_grad()
        loss = ctx.loss_fn(self.model.forward_batch(batch), batch)
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        return {"loss": float(loss.detach())}

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Any) -> None:
        self.steps = state["steps"]
        self.optimizer.load_state_dict(state["optimizer"])


class PicklingRule(PlainSGD):
    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "optimizer": self.optimizer}


class TensorMetricsRule(PlainSGD):
    def step(self, batch: Any, ctx: Any) -> dict[str, float]:
        loss = ctx.loss_fn(self.model.forward_batch(batch), batch)
        return {"loss": loss}  # type: ignore[dict-item]


class ForgetfulRule(PlainSGD):
    def load_state_dict(self, state: Any) -> None:
        self.optimizer.load_state_dict(state["optimizer"])  # forgets the step counter


class CounterConfig(ComponentConfig):
    every: int = Field(1, ge=1)


class Counter(Callback):
    Config = CounterConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.batches, self.losses = 0, []

    def on_batch_start(self, batch: dict[str, Tensor], ctx: Any) -> dict[str, Tensor]:
        self.batches += 1
        return batch

    def on_step_end(self, metrics: Any, ctx: Any) -> None:
        self.losses.append(metrics["loss"])

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "losses": list(self.losses), "scale": torch.ones(2)}

    def load_state_dict(self, state: Any) -> None:
        self.batches, self.losses = state["batches"], list(state["losses"])


class StateIgnoringCounter(Counter):
    def load_state_dict(self, state: Any) -> None:
        pass


class BatchEater(Counter):
    def on_batch_start(self, batch: dict[str, Tensor], ctx: Any) -> dict[str, Tensor]:
        self.batches += 1  # forgets to return the batch
        return None  # type: ignore[return-value]


class MaybeChanged(Counter):
    def on_epoch_end(self, ctx: Any) -> bool:
        return None  # type: ignore[return-value]


def test_good_learning_rule_and_callback_pass() -> None:
    assert check_learning_rule(PlainSGD).ok
    report = check_callback(Counter, raise_on_failure=False)
    assert report.ok, report.summary()


def test_learning_rule_checks_flag_problems() -> None:
    flags(check_state_dict_plain, PicklingRule, "state must be plain data")
    flags(check_learning_rule_step, TensorMetricsRule, "finite Python numbers")
    flags(check_state_dict_plain, ForgetfulRule, r"state_dict\(\)\['steps'\] differs")


def test_callback_checks_flag_problems() -> None:
    flags(check_state_dict_plain, StateIgnoringCounter, "differs after load_state_dict")
    flags(check_callback_events, BatchEater, "on_batch_start.. must return")
    flags(check_callback_events, MaybeChanged, r"on_epoch_end\(\) must return a bool")


# ================================================================================================
# expected failures, xpass, skips and the report
# ================================================================================================
class DeclaredBatchMixer(BatchMixer):
    expected_failures: ClassVar[dict[str, str]] = {"check_batch_independence": "mixes the batch on purpose"}


class WronglyDeclared(CumMean):
    expected_failures: ClassVar[dict[str, str]] = {"check_output_shape": "we thought it changed shapes"}


class TypoDeclared(CumMean):
    expected_failures: ClassVar[dict[str, str]] = {"check_batch_independance": "typo"}


def test_expected_failure_is_counted_as_xfail() -> None:
    report = check_component(DeclaredBatchMixer)
    outcome = report.get("DeclaredBatchMixer", "check_batch_independence")
    assert outcome.status == "xfailed"
    assert outcome.message.startswith("mixes the batch on purpose")
    assert report.ok
    assert report.counts == {
        "passed": len(checks_for("token_mixer")) - 1,
        "failed": 0,
        "xfailed": 1,
        "xpassed": 0,
        "skipped": 0,
    }


def test_unexpected_pass_is_xpass_and_a_failure() -> None:
    report = check_component(WronglyDeclared)
    assert report.status_of("check_output_shape") == "xpassed"
    assert not report.ok and report.xpassed == 1 and report.failed == 0
    assert report.problems()[0].check == "check_output_shape"
    with pytest.raises(AssertionError, match=r"XPASSED|xpassed"):
        check_token_mixer(WronglyDeclared)


def test_expected_failures_must_name_real_checks() -> None:
    flags(check_declarations, TypoDeclared, "names 'check_batch_independance', which is not a check")


def test_report_counts_and_summary() -> None:
    report = ConformanceReport()
    check_component(CumMean, report=report)  # all pass
    check_component(NonCausalMixer, report=report)  # causality skipped
    check_component(DeclaredBatchMixer, report=report)  # one xfail
    check_component(WronglyDeclared, report=report)  # one xpass
    check_component(ShapeChanger, report=report)  # shape (and what depends on it) fails
    n = len(checks_for("token_mixer"))
    counts = report.counts
    assert sum(counts.values()) == len(report) == 5 * n
    assert counts["skipped"] == 1 and counts["xfailed"] == 1 and counts["xpassed"] == 1
    assert counts["failed"] >= 1 and report.status_of("check_output_shape", "token_mixer/ShapeChanger") == "failed"
    assert report.passed == 5 * n - counts["failed"] - 3
    text = report.summary()
    for word in (
        "passed",
        "failed",
        "xfailed",
        "xpassed",
        "skipped",
        "token_mixer/ShapeChanger",
        "not causal",
        "OK",
        "FAILED",
    ):
        if word == "OK":
            continue
        assert word in text
    assert "FAILED" in text.splitlines()[-1]
    table = report.table().splitlines()
    assert table[0].split() == ["component", "passed", "failed", "xfailed", "xpassed", "skipped"]
    assert table[-1].split()[1:] == [str(counts[s]) for s in ("passed", "failed", "xfailed", "xpassed", "skipped")]
    with pytest.raises(AssertionError, match="conformance failed"):
        report.raise_for_failures()


def test_a_component_that_cannot_be_built_fails_declarations() -> None:
    class Broken(CumMean):
        def __init__(self, config: Any = None, **overrides: Any) -> None:
            raise RuntimeError("boom")

    report = check_component(Broken)
    assert report.status_of("check_declarations") == "failed"
    assert "boom" in report.get("Broken", "check_declarations").message


def test_checks_leave_global_rng_untouched() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_determinism(CumMean)
    assert torch.equal(torch.rand(3), expected)


def test_unknown_options_are_rejected() -> None:
    with pytest.raises(TypeError, match="unknown option"):
        check_finite(CumMean, config={"dim": 8})


def test_default_loss_helper() -> None:
    out = torch.randn(4, 3)
    assert default_loss(out, {"y": torch.tensor([0, 1, 2, 0])}).dim() == 0


# ================================================================================================
# the extension point and the pytest fixture
# ================================================================================================
@pytest.fixture
def restore_check_registry():
    from forwardkit.testing import checks

    impls = {k: dict(v) for k, v in checks._IMPLS.items()}
    order = {k: list(v) for k, v in checks._ORDER.items()}
    public = dict(checks._PUBLIC)
    yield
    checks._IMPLS.clear()
    checks._IMPLS.update(impls)
    checks._ORDER.clear()
    checks._ORDER.update(order)
    checks._PUBLIC.clear()
    checks._PUBLIC.update(public)


def test_new_checks_register_for_kinds_and_every_runner_runs_them(restore_check_registry: None) -> None:
    from forwardkit.testing import conformance_check

    @conformance_check("learning_rule", "callback")
    def check_resume(subject: Any, *, configs: Any = None) -> None:
        """(a stand-in for the training engine's exact-resume check)"""
        if subject.kind == "callback":
            raise SkipCheck("not for callbacks in this test")
        assert subject.build().config.lr > 1, "lr too small to resume"

    assert checks_for("learning_rule").count("check_resume") == 1  # registered again: replaced in place
    report = check_component(PlainSGD)
    assert report.status_of("check_resume") == "failed"
    assert report.get("PlainSGD", "check_resume").message.startswith("lr too small to resume")
    assert check_component(Counter).status_of("check_resume") == "skipped"
    with pytest.raises(SkipCheck, match="applies to learning_rule, callback"):
        check_resume(CumMean)


def test_fixture_runs_one_check_or_a_whole_component(forwardkit_check: Any) -> None:
    outcome = forwardkit_check(CumMean, "check_causality")
    assert outcome.status == "passed"
    report = forwardkit_check(DeclaredBatchMixer)  # xfail inside: the component still conforms
    assert report.xfailed == 1 and report.ok
