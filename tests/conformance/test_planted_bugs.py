"""Planted bugs: every check of the kit catches a deliberately broken component and passes its fix.

Each :class:`Planted` entry names a check, a component with one bug, the same component without it,
and what the failure message must say. The kit catches a planted bug when the runner reports the
check as failing (``failed``, or ``xpassed`` for a stale declaration); the fix must pass. Every
implementation of every registered check (one per kind family) has at least one planted bug, and
:data:`PLANTED` is the count reported in the closing note of issue 9.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from pydantic import Field, field_serializer
from torch import Tensor, nn
from torch.utils.data import Dataset as TorchDataset

from forwardkit.builtin.backprop import Backprop
from forwardkit.builtin.tasks import Classification
from forwardkit.builtin.tent import Tent, norm_affine_parameters
from forwardkit.builtin.training_config import BackpropConfig
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
from forwardkit.testing import measure_model, run_check
from forwardkit.testing.checks import _IMPLS, checks_for
from forwardkit.testing.checks.export import declared_formats, onnx_missing
from forwardkit.testing.report import FAILING
from forwardkit.testing.toys import ToyNet, ToyNetConfig

TOY = {"models": ["toy"]}  # adapters, compressors and analyzers on the kit's toy model only


@dataclass(frozen=True)
class Planted:
    """A bug planted in ``broken`` that ``check`` must catch; ``fixed`` is the same component without it."""

    check: str
    broken: type
    fixed: type
    match: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.check}:{self.broken.__name__}"


# ================================================================================================
# token mixers
# ================================================================================================
class MixConfig(TokenMixerConfig):
    dim: int = Field(16, ge=1)
    bias: bool = True
    drop: float = Field(0.0, ge=0.0, lt=1.0)


class CausalMean(TokenMixer):
    """Well behaved: a causal cumulative mean over the flattened tokens, then a Linear."""

    Config = MixConfig
    causal = True

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.proj = nn.Linear(self.dim, self.dim, bias=self.config.bias)
        self.drop = nn.Dropout(self.config.drop)

    def mixed(self, x: Tensor) -> Tensor:
        t = x.flatten(1, -2)
        counts = torch.arange(1, t.shape[1] + 1, dtype=t.dtype).view(1, -1, 1)
        return t.cumsum(1) / counts

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(self.mixed(x))).reshape(x.shape)


class BadRanks(CausalMean):
    ranks = frozenset({0, 4})


class TypoDeclared(CausalMean):
    expected_failures: ClassVar[dict[str, str]] = {"check_batch_independance": "a typo"}


class ReasonlessExempt(CausalMean):
    gradient_exempt: ClassVar[dict[str, str]] = {"proj.bias": ""}


class DropsAToken(CausalMean):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)[:, :-1]


class RefusesImages(CausalMean):
    """Declares ranks 1-3 but only runs sequences."""

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) == 1


class DoubleOutput(CausalMean):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).double()


class NaNOutput(CausalMean):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + torch.log(x)  # log of the negative inputs


class ZeroedGate(CausalMean):
    """A gate multiplied by zero: the gate and everything before it get an exactly zero gradient."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.gate = nn.Parameter(torch.ones(self.dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + super().forward(x) * (self.gate * 0.0)


class GatedMean(ZeroedGate):
    """The fix: the gate is used."""

    def forward(self, x: Tensor) -> Tensor:
        return x + super(ZeroedGate, self).forward(x) * self.gate


class StaleExemption(GatedMean):
    """Declares the gate gradient-free, but the gate is used: a stale declaration."""

    gradient_exempt: ClassVar[dict[str, str]] = {"gate": "multiplied by zero (it no longer is)"}


class UnusedParameter(CausalMean):
    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.forgotten = nn.Parameter(torch.ones(self.dim))


class DetachedInput(CausalMean):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.detach())


class InfiniteGradient(CausalMean):
    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out + torch.sqrt(self.proj.weight.sum() * 0.0)  # d sqrt(u)/du at u = 0 is infinite


class MixesTheBatch(CausalMean):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + x.mean(0, keepdim=True)


class PeeksAhead(CausalMean):
    """Declares causal, but adds the mean of the whole sequence."""

    def mixed(self, x: Tensor) -> Tensor:
        t = x.flatten(1, -2)
        return super().mixed(x) + t.mean(1, keepdim=True)


class CausalRefusesAll(CausalMean):
    """Causal, but supports() refuses every shape: causality would pass without being tested."""

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return False


class CausalCanonicalOnly(CausalMean):
    """Causal, but supports() accepts only the kit's canonical shapes: almost every draw is filtered."""

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return spatial in ((8,), (4, 6), (2, 4, 6))


class RunningScale(CausalMean):
    """Keeps a running scale in a buffer that training updates (persistent: in the state_dict)."""

    persistent = True

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.register_buffer("scale", torch.ones(self.dim), persistent=self.persistent)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.scale.mul_(0.5).add_(0.5 * x.detach().flatten(0, -2).abs().mean(0))
        return super().forward(x) * self.scale


class LosesABuffer(RunningScale):
    """The same buffer, left out of the state_dict."""

    persistent = False


class LossyConfig(MixConfig):
    scale: float = 0.25

    @field_serializer("scale")
    def _rounded(self, value: float) -> float:
        return round(value, 1)


class LossyConfigMixer(CausalMean):
    Config = LossyConfig


class UnseededInit(CausalMean):
    """Initialises from its own generator, seeded by a counter: not reproducible under torch.manual_seed."""

    counter = itertools.count()

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        gen = torch.Generator().manual_seed(next(self.counter))
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(self.proj.weight.shape, generator=gen))


class PythonRandomNoise(CausalMean):
    """Adds training noise drawn from Python's random module, which torch.manual_seed does not seed."""

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out + random.random() if self.training else out


class SignBranch(CausalMean):
    """Data-dependent control flow: the branch taken depends on the input's values."""

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out if x.sum() > 0 else -out


class CallCounter(CausalMean):
    """Scales its output by a Python call counter: the exported program freezes the count it was traced at."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return super().forward(x) * (1.0 + 0.1 * self.calls)


class OnnxMean(CausalMean):
    """Well behaved, and declares ONNX export."""

    export_formats: ClassVar[tuple[str, ...]] = ("torch", "onnx")


class StableSortMixer(OnnxMean):
    """Declares ONNX export but ranks its tokens with a stable sort, which has no ONNX function."""

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        order = torch.sort(out.detach().flatten(1, -2).norm(dim=-1), dim=1, stable=True, descending=True).indices
        return out + 0.0 * order.to(out.dtype).reshape(*out.shape[:-1], 1)


class OnnxOnly(CausalMean):
    export_formats: ClassVar[tuple[str, ...]] = ("onnx",)  # ONNX is made from torch.export's program


TOKEN_MIXER_BUGS = [
    Planted("check_declarations", BadRanks, CausalMean, r"ranks must be a non-empty subset"),
    Planted("check_declarations", OnnxOnly, CausalMean, r"export_formats must be a tuple naming 'torch'"),
    Planted("check_declarations", TypoDeclared, CausalMean, r"names 'check_batch_independance', which is not a check"),
    Planted("check_declarations", ReasonlessExempt, CausalMean, r"gradient_exempt\['proj.bias'\] needs a reason"),
    Planted("check_output_shape", DropsAToken, CausalMean, r"output shape .* != input shape"),
    Planted("check_output_shape", RefusesImages, CausalMean, r"ranks \[2, 3\] are declared"),
    Planted("check_output_shape", DoubleOutput, CausalMean, r"output dtype torch.float64 != input dtype"),
    Planted("check_finite", NaNOutput, CausalMean, r"non-finite output"),
    Planted(
        "check_gradients", ZeroedGate, GatedMean, r"\['gate', 'proj.bias', 'proj.weight'\] got no or an exactly zero"
    ),
    Planted("check_gradients", StaleExemption, GatedMean, r"gradient_exempt no longer applies: 'gate'"),
    Planted(
        "check_gradients", UnusedParameter, CausalMean, r"no gradient reached trainable parameter\(s\) \['forgotten'\]"
    ),
    Planted("check_gradients", DetachedInput, CausalMean, r"does not require grad|no gradient reached the input"),
    Planted(
        "check_gradients", InfiniteGradient, CausalMean, r"non-finite gradients in parameter\(s\) \['proj.weight'\]"
    ),
    Planted("check_batch_independence", MixesTheBatch, CausalMean, r"sample \d changed .* only sample \d"),
    Planted("check_causality", PeeksAhead, CausalMean, r"declared causal, but the output at flattened position"),
    Planted("check_causality", CausalRefusesAll, CausalMean, r"no case could be run for check_causality"),
    Planted("check_causality", CausalCanonicalOnly, CausalMean, r"health check failed|every drawn case was rejected"),
    Planted("check_state_dict_round_trip", LosesABuffer, RunningScale, r"different eval output"),
    Planted("check_config_round_trip", LossyConfigMixer, CausalMean, r"does not round-trip through JSON"),
    Planted("check_determinism", UnseededInit, CausalMean, r"torch.manual_seed"),
    Planted("check_determinism", PythonRandomNoise, CausalMean, r"outputs differ"),
    Planted("check_export", SignBranch, CausalMean, r"torch.export.export failed .*data-dependent"),
    Planted("check_export", CallCounter, CausalMean, r"torch.export program on input 0 .* outputs differ"),
    Planted("check_export", StableSortMixer, OnnxMean, r"declares ONNX export, but torch.onnx.export failed.*sort"),
]


# ================================================================================================
# channel mixers
# ================================================================================================
class FFNConfig(ChannelMixerConfig):
    dim: int = Field(16, ge=1)


class FFN(ChannelMixer):
    """Well behaved: a per-token two-layer MLP."""

    Config = FFNConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.fc1, self.fc2 = nn.Linear(self.dim, 2 * self.dim), nn.Linear(2 * self.dim, self.dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class PointwiseLiar(FFN):
    """Declares pointwise (the default) but adds the mean token."""

    def forward(self, x: Tensor) -> Tensor:
        mean = x.flatten(1, -2).mean(1).reshape(x.shape[0], *([1] * (x.dim() - 2)), x.shape[-1])
        return super().forward(x) + mean


class EvalBatchNorm(FFN):
    """Normalises every channel with the statistics of the batch, in eval mode too."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x - x.mean(0, keepdim=True))


CHANNEL_MIXER_BUGS = [
    Planted("check_pointwise", PointwiseLiar, FFN, r"declared pointwise, but the output at token \d+ changed"),
    Planted("check_batch_independence", EvalBatchNorm, FFN, r"mixes across the batch"),
]


# ================================================================================================
# models
# ================================================================================================
class WrongChannelsBatch(ToyNet):
    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {"x": torch.randn(batch_size, 8, 8, 2, generator=generator)}


class TupleBatch(ToyNet):
    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> Any:
        batch = super().example_batch(batch_size, generator=generator)
        return batch["x"], batch["y"]


class EvalDivByZero(ToyNet):
    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out if self.training else out / torch.zeros(())


class ZeroedHeadBias(ToyNet):
    """The head's bias is multiplied by zero."""

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.bn(self.conv(x.permute(0, 3, 1, 2)))).permute(0, 2, 3, 1)
        h = h + self.fc(self.norm(h))
        return F.linear(h.mean(dim=(1, 2)), self.head.weight, self.head.bias * 0.0)


class UnusedHead(ToyNet):
    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.spare_head = nn.Linear(self.config.width, self.config.num_classes)


class EvalBatchStats(ToyNet):
    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out - out.mean(0, keepdim=True)


class PlainAttributeState(ToyNet):
    """A running mean kept in a plain attribute: lost by state_dict."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.running = torch.zeros(self.config.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        if self.training:
            self.running = 0.5 * self.running + 0.5 * out.detach().mean(0)
        return out - self.running


class LossyToyConfig(ToyNetConfig):
    init_scale: float = 0.25

    @field_serializer("init_scale")
    def _rounded(self, value: float) -> float:
        return round(value, 1)


class LossyToy(ToyNet):
    Config = LossyToyConfig


class UnseededToy(ToyNet):
    counter = itertools.count()

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        gen = torch.Generator().manual_seed(next(self.counter))
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=gen))


class BranchyToy(ToyNet):
    """Returns probabilities or logits depending on the sign of the mean logit."""

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out.softmax(-1) if out.mean() > 0 else out


MODEL_BUGS = [
    Planted("check_forward_batch", WrongChannelsBatch, ToyNet, r"forward_batch\(example_batch\(\)\) raised"),
    Planted("check_forward_batch", TupleBatch, ToyNet, r"example_batch\(\) must return a non-empty dict"),
    Planted("check_finite", EvalDivByZero, ToyNet, r"non-finite output \(eval mode"),
    Planted("check_gradients", ZeroedHeadBias, ToyNet, r"\['head.bias'\] got no or an exactly zero gradient"),
    Planted("check_gradients", UnusedHead, ToyNet, r"no gradient reached trainable parameter\(s\) \['spare_head"),
    Planted("check_batch_independence", EvalBatchStats, ToyNet, r"eval output of sample 0 changed"),
    Planted("check_state_dict_round_trip", PlainAttributeState, ToyNet, r"different eval output"),
    Planted("check_config_round_trip", LossyToy, ToyNet, r"init_scale: 0.25 -> 0.2"),
    Planted("check_determinism", UnseededToy, ToyNet, r"state_dict entry 'head.weight' differs"),
    Planted("check_export", BranchyToy, ToyNet, r"torch.export.export failed .*GuardOnDataDependentSymNode"),
]


# ================================================================================================
# adapters
# ================================================================================================
class ScaleConfig(ComponentConfig):
    factor: float = 0.5


class ScaledCopy(Adapter):
    """Well behaved: returns a scaled copy and leaves the given model as it was."""

    Config = ScaleConfig

    def apply(self, model: nn.Module) -> nn.Module:
        new = copy.deepcopy(model)
        with torch.no_grad():
            for p in new.parameters():
                p.mul_(self.config.factor)
        return new


class HeadSwap(ScaledCopy):
    """Changes the call signature: one more output."""

    def apply(self, model: nn.Module) -> nn.Module:
        new = super().apply(model)
        new.head = nn.Linear(new.head.in_features, new.head.out_features + 1)
        return new


class VectorLoss(ScaledCopy):
    def loss(self, model: nn.Module, batch: Any, output: Any) -> Tensor:
        return torch.ones(3)


class CopyLiar(ScaledCopy):
    """Says it copies (inplace=False) but scales the given model."""

    def apply(self, model: nn.Module) -> nn.Module:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(self.config.factor)
        return model


class InplaceLiar(ScaledCopy):
    inplace = True  # but apply() returns a copy


class SharingWrapper(ScaledCopy):
    def apply(self, model: nn.Module) -> nn.Module:
        return nn.Sequential(model)


ADAPTER_BUGS = [
    Planted(
        "check_adapter_signature", HeadSwap, ScaledCopy, r"output shapes changed from \[\(2, 4\)\] to \[\(2, 5\)\]", TOY
    ),
    Planted("check_adapter_signature", VectorLoss, ScaledCopy, r"loss\(\) must return None or a finite scalar", TOY),
    Planted("check_adapter_inplace", CopyLiar, ScaledCopy, r"returned the model it was given", TOY),
    Planted("check_adapter_inplace", InplaceLiar, ScaledCopy, r"declares inplace=True but apply", TOY),
    Planted("check_adapter_inplace", SharingWrapper, ScaledCopy, r"shares trainable parameters", TOY),
]


# ================================================================================================
# compressors
# ================================================================================================
class PruneConfig(ComponentConfig):
    amount: float = Field(0.5, ge=0.0, le=1.0)


def _figures(model: nn.Module) -> ModelFigures:
    m = measure_model(model)
    return ModelFigures(parameters=m["nonzero_parameters"], bytes=m["tensor_bytes"])


class MagnitudePrune(Compressor):
    """Well behaved: zeroes the smallest weights of a copy and reports non-zero parameters."""

    Config = PruneConfig

    def compress(self, model: nn.Module, data: Any = None) -> tuple[nn.Module, CompressionReport]:
        before = _figures(model)
        new = copy.deepcopy(model)
        with torch.no_grad():
            for p in new.parameters():
                if p.dim() > 1:
                    cut = p.abs().flatten().kthvalue(max(1, int(self.config.amount * p.numel()))).values
                    p.mul_((p.abs() > cut).to(p.dtype))
        return new, CompressionReport(before=before, after=_figures(new))


class BytesLiar(MagnitudePrune):
    def compress(self, model: nn.Module, data: Any = None) -> tuple[nn.Module, CompressionReport]:
        new, report = super().compress(model, data)
        report.after.bytes //= 4
        return new, report


class CountLiar(MagnitudePrune):
    def compress(self, model: nn.Module, data: Any = None) -> tuple[nn.Module, CompressionReport]:
        new, report = super().compress(model, data)
        report.before.parameters += 100
        return new, report


class HeadCutter(MagnitudePrune):
    def compress(self, model: nn.Module, data: Any = None) -> tuple[nn.Module, CompressionReport]:
        new, report = super().compress(model, data)
        new.head = nn.Linear(new.head.in_features, 2)
        return new, CompressionReport(before=report.before, after=_figures(new))


COMPRESSOR_BUGS = [
    Planted(
        "check_compressor_report", BytesLiar, MagnitudePrune, r"report.after.bytes = \d+, but the kit measures", TOY
    ),
    Planted("check_compressor_report", CountLiar, MagnitudePrune, r"report.before.parameters = \d+, but the kit", TOY),
    Planted("check_compressor_signature", HeadCutter, MagnitudePrune, r"output shapes changed", TOY),
]


# ================================================================================================
# datasets
# ================================================================================================
class DataConfig(ComponentConfig):
    n: int = Field(12, ge=0)
    seed: int = 0


class _Items(TorchDataset):
    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


class TinyData(Dataset):
    """Well behaved: seeded 4x4x1 images in 3 classes; train/val/test of n, n/3, n/3."""

    Config = DataConfig

    def sizes(self) -> dict[str, int]:
        n = self.config.n
        return {"train": n, "val": n // 3, "test": n // 3}

    def md(self, **changes: Any) -> DatasetMetadata:
        fields = {"task": "classification", "input_shape": (4, 4, 1), "num_classes": 3, "sizes": self.sizes()}
        return DatasetMetadata(**{**fields, **changes})

    @property
    def metadata(self) -> DatasetMetadata:
        return self.md()

    def generator(self, split: str) -> torch.Generator | None:
        return torch.Generator().manual_seed(self.config.seed * 10 + self.splits.index(split))

    def split(self, name: str) -> TorchDataset:
        n, g = self.sizes()[name], self.generator(name)
        return _Items(torch.randn(n, 4, 4, 1, generator=g), torch.randint(0, 3, (n,), generator=g))


class GlobalRNGData(TinyData):
    def generator(self, split: str) -> torch.Generator | None:
        return None  # torch's global generator: two instances differ


class EmptyData(TinyData):
    """Every split is empty: determinism would hold of nothing."""

    conformance_configs: ClassVar[list[dict[str, Any]]] = [{"n": 0}]


class ShapeLiarData(TinyData):
    @property
    def metadata(self) -> DatasetMetadata:
        return self.md(input_shape=(4, 4, 3))


class ClassLiarData(TinyData):
    @property
    def metadata(self) -> DatasetMetadata:
        return self.md(num_classes=2)


class TupleItemsData(TinyData):
    def split(self, name: str) -> TorchDataset:
        items = super().split(name)
        return [(items[i]["x"], items[i]["y"]) for i in range(len(items))]  # type: ignore[return-value]


class SizeLiarData(TinyData):
    @property
    def metadata(self) -> DatasetMetadata:
        return self.md(sizes={**self.sizes(), "val": 99})


class ExtraSplitData(TinyData):
    @property
    def metadata(self) -> DatasetMetadata:
        return self.md(sizes={**self.sizes(), "holdout": 4})


class NoDefaultsConfig(DataConfig):
    path: str


class NoDefaultsData(TinyData):
    Config = NoDefaultsConfig


DATASET_BUGS = [
    Planted("check_declarations", NoDefaultsData, TinyData, r"fields \['path'\] have no default"),
    Planted(
        "check_dataset_determinism", GlobalRNGData, TinyData, r"two instances with the same config yield different"
    ),
    Planted("check_dataset_determinism", EmptyData, TinyData, r"check_dataset_determinism ran on no case"),
    Planted("check_dataset_items", ShapeLiarData, TinyData, r"metadata.input_shape is \(4, 4, 3\)"),
    Planted("check_dataset_items", ClassLiarData, TinyData, r"outside \[0, 2\)"),
    Planted("check_dataset_items", TupleItemsData, TinyData, r"items must be dicts"),
    Planted("check_dataset_sizes", SizeLiarData, TinyData, r"split 'val' has 4 items but metadata.sizes says 99"),
    Planted("check_dataset_sizes", ExtraSplitData, TinyData, r"names split\(s\) \['holdout'\] the dataset does not"),
]


# ================================================================================================
# analyzers
# ================================================================================================
class WeightNorms(Analyzer):
    """Well behaved: the norm of every parameter, and the total."""

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


class InfiniteCellAnalyzer(WeightNorms):
    def analyze(self, model: nn.Module, data: Any = None) -> Analysis:
        result = super().analyze(model, data)
        result.tables["norms"][0]["norm"] = float("inf")
        return result


ANALYZER_BUGS = [
    Planted("check_analyzer_output", NaNAnalyzer, WeightNorms, r"finite numbers", TOY),
    Planted("check_analyzer_output", EmptyAnalyzer, WeightNorms, r"empty Analysis", TOY),
    Planted("check_analyzer_output", InfiniteCellAnalyzer, WeightNorms, r"non-finite value in column 'norm'", TOY),
]


# ================================================================================================
# learning rules
# ================================================================================================
class SGDConfig(ComponentConfig):
    lr: float = Field(0.05, gt=0)


class MomentumSGD(LearningRule):
    """Well behaved: SGD with momentum; saves its step count and optimizer state."""

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


class TensorMetrics(MomentumSGD):
    def step(self, batch: Any, ctx: Any) -> dict[str, float]:
        super().step(batch, ctx)
        return {"loss": torch.ones(())}  # type: ignore[dict-item]


class PoisonedStep(MomentumSGD):
    """Reports a fine loss, but leaves a parameter NaN."""

    def step(self, batch: Any, ctx: Any) -> dict[str, float]:
        super().step(batch, ctx)
        with torch.no_grad():
            next(self.model.parameters()).fill_(float("nan"))
        return {"loss": 1.0}


class PicklingRule(MomentumSGD):
    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "optimizer": self.optimizer}


class ForgetfulRule(MomentumSGD):
    def load_state_dict(self, state: Any) -> None:
        self.optimizer.load_state_dict(state["optimizer"])  # forgets the step count


class LossyRuleConfig(SGDConfig):
    @field_serializer("lr")
    def _rounded(self, value: float) -> float:
        return round(value, 1)


class LossyConfigRule(MomentumSGD):
    Config = LossyRuleConfig


class MomentlessBackprop(Backprop):
    """Leaves the optimizer's moments out of its state: a resumed Adam restarts from zero moments."""

    Config = BackpropConfig

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "optimizer": None}


class UnfreezingRule(MomentumSGD):
    """Makes every parameter trainable in setup: it trains what a stage froze."""

    def setup(self, model: nn.Module, ctx: Any) -> None:
        model.requires_grad_(True)
        super().setup(model, ctx)


class IdleRule(MomentumSGD):
    trains: ClassVar[bool] = False  # and it does not adapt at test time either


class NoisyTent(Tent):
    """Perturbs the adapted scales with noise from a generator seeded by a counter: runs differ."""

    counter = itertools.count()

    def adapt(self, model: nn.Module, batch: Any, ctx: Any) -> Any:
        out = super().adapt(model, batch, ctx)
        gen = torch.Generator().manual_seed(next(self.counter))
        with torch.no_grad():
            for p in norm_affine_parameters(model):
                p.add_(1e-3 * torch.randn(p.shape, generator=gen))
        return out


class NaNTent(Tent):
    def adapt(self, model: nn.Module, batch: Any, ctx: Any) -> Any:
        out = super().adapt(model, batch, ctx)
        with torch.no_grad():
            norm_affine_parameters(model)[0].fill_(float("nan"))
        return out


class CarriedMomentsTent(Tent):
    """Builds its optimizer in the first episode only: Adam's moments carry over into the next episodes."""

    def begin_episode(self, model: nn.Module, ctx: Any) -> None:
        if self.optimizer is None:
            super().begin_episode(model, ctx)
            return
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()


class HookLeavingTent(Tent):
    """Registers a forward hook at every episode start and never removes it."""

    def begin_episode(self, model: nn.Module, ctx: Any) -> None:
        super().begin_episode(model, ctx)
        model.register_forward_hook(lambda module, args, out: out * 1.5)


RULE_BUGS = [
    Planted("check_declarations", IdleRule, MomentumSGD, r"trains = False but not adapts_at_test_time"),
    Planted("check_learning_rule_step", TensorMetrics, MomentumSGD, r"finite Python numbers"),
    Planted("check_learning_rule_step", PoisonedStep, MomentumSGD, r"are non-finite after 2 steps"),
    Planted("check_state_dict_plain", PicklingRule, MomentumSGD, r"state must be plain data"),
    Planted("check_state_dict_plain", ForgetfulRule, MomentumSGD, r"state_dict\(\)\['steps'\] differs"),
    Planted("check_config_round_trip", LossyConfigRule, MomentumSGD, r"does not round-trip through JSON"),
    Planted("check_resume", MomentlessBackprop, Backprop, r"weights differ|state_dict differs"),
    Planted("check_stages", UnfreezingRule, MomentumSGD, r"parameters \['net.0.weight'\] of the frozen part"),
    Planted("check_stages", MomentlessBackprop, Backprop, r"weights differ|state_dict differs"),
    Planted("check_test_time", NoisyTent, Tent, r"the stream is not deterministic"),
    Planted("check_test_time", NaNTent, Tent, r"non-finite adapted weights \['bn.weight'\]"),
    Planted("check_test_time", CarriedMomentsTent, Tent, r"begin_episode does not start the rule afresh"),
    Planted("check_test_time", HookLeavingTent, Tent, r"episode 1 does not start from the trained model"),
]


# ================================================================================================
# callbacks
# ================================================================================================
class CounterConfig(ComponentConfig):
    every: int = Field(1, ge=1)


class Counter(Callback):
    """Well behaved: counts batches and keeps the losses; saves and restores both."""

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
        return {"batches": self.batches, "losses": list(self.losses)}

    def load_state_dict(self, state: Any) -> None:
        self.batches, self.losses = state["batches"], list(state["losses"])


class BatchEater(Counter):
    def on_batch_start(self, batch: dict[str, Tensor], ctx: Any) -> dict[str, Tensor]:
        super().on_batch_start(batch, ctx)
        return None  # type: ignore[return-value]


class MaybeChanged(Counter):
    def on_epoch_end(self, ctx: Any) -> bool:
        return None  # type: ignore[return-value]


class GradNorms(Counter):
    """Well behaved: records the gradient norm once the gradients exist (on_after_backward)."""

    def on_after_backward(self, ctx: Any) -> None:
        self.losses.append(float(sum(p.grad.norm() for p in ctx.model.parameters() if p.grad is not None)))


class WrongEventOrder(GradNorms):
    """Written for another event order: reads the gradients in on_batch_start, before any backward."""

    def on_batch_start(self, batch: dict[str, Tensor], ctx: Any) -> dict[str, Tensor]:
        self.losses.append(float(sum(p.grad.norm() for p in ctx.model.parameters())))
        return batch


class StateIgnoring(Counter):
    def load_state_dict(self, state: Any) -> None:
        pass


class NoiseConfig(ComponentConfig):
    scale: float = 0.1


class SavedNoise(Callback):
    """Well behaved: input noise from a private generator whose state it saves."""

    Config = NoiseConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.gen = torch.Generator().manual_seed(0)

    def on_batch_start(self, batch: dict[str, Tensor], ctx: Any) -> dict[str, Tensor]:
        noise = torch.randn(batch["x"].shape, generator=self.gen) * self.config.scale
        return {**batch, "x": batch["x"] + noise}

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: Any) -> None:
        self.gen.set_state(state["gen"])


class UnsavedNoise(SavedNoise):
    """The same generator, not saved: a resumed run draws other noise."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Any) -> None:
        pass


CALLBACK_BUGS = [
    Planted("check_callback_events", BatchEater, Counter, r"on_batch_start\(\) must return"),
    Planted("check_callback_events", MaybeChanged, Counter, r"on_epoch_end\(\) must return a bool"),
    Planted("check_callback_events", WrongEventOrder, GradNorms, r"on_batch_start\(\) raised AttributeError"),
    Planted("check_state_dict_plain", StateIgnoring, Counter, r"differs after load_state_dict"),
    Planted("check_resume", UnsavedNoise, SavedNoise, r"weights differ"),
    Planted("check_stages", UnsavedNoise, SavedNoise, r"weights differ"),
]


# ================================================================================================
# tasks
# ================================================================================================
class DetachedLoss(Classification):
    def loss(self, output: Tensor, batch: Any) -> Tensor:
        return super().loss(output.detach(), batch)


class MeanMetrics(Classification):
    """Reports batch means as if they were sums: a small last batch weighs as much as a full one."""

    def metrics(self, output: Tensor, batch: Any) -> dict[str, tuple[float, int]]:
        return {"accuracy": (float((output.argmax(-1) == batch["y"]).float().mean()), 1)}


class NoMetrics(Classification):
    """Returns no metric at all: exact averaging would hold of nothing."""

    def metrics(self, output: Tensor, batch: Any) -> dict[str, tuple[float, int]]:
        return {}


TASK_BUGS = [
    Planted("check_task_loss", DetachedLoss, Classification, r"differentiabl"),
    Planted("check_task_metrics", MeanMetrics, Classification, r"halves sum"),
    Planted("check_task_metrics", NoMetrics, Classification, r"check_task_metrics ran on no case"),
]


PLANTED: list[Planted] = [
    *TOKEN_MIXER_BUGS,
    *CHANNEL_MIXER_BUGS,
    *MODEL_BUGS,
    *ADAPTER_BUGS,
    *COMPRESSOR_BUGS,
    *DATASET_BUGS,
    *ANALYZER_BUGS,
    *RULE_BUGS,
    *CALLBACK_BUGS,
    *TASK_BUGS,
]


def _fixes() -> list[Planted]:
    """One planted entry per distinct (check, fixed component, options): the fixes to run."""
    seen: dict[tuple[str, type, str], Planted] = {}
    for bug in PLANTED:
        seen.setdefault((bug.check, bug.fixed, repr(sorted(bug.options.items()))), bug)
    return list(seen.values())


def _needs_onnx(component: type) -> None:
    if "onnx" in declared_formats(component) and onnx_missing():
        pytest.skip(f"{', '.join(onnx_missing())} not installed (pip install 'forwardkit[test]')")


@pytest.mark.parametrize("bug", PLANTED, ids=lambda b: b.id)
def test_the_check_catches_the_planted_bug(bug: Planted) -> None:
    _needs_onnx(bug.broken)
    outcome = run_check(bug.check, bug.broken, **bug.options)
    assert outcome.status in FAILING, f"{bug.id} was not caught: {outcome}"
    assert re.search(bug.match, outcome.message), f"{bug.id}: unexpected message {outcome.message!r}"


@pytest.mark.parametrize("bug", _fixes(), ids=lambda b: f"{b.check}:{b.fixed.__name__}")
def test_the_fixed_component_passes(bug: Planted) -> None:
    _needs_onnx(bug.fixed)
    outcome = run_check(bug.check, bug.fixed, **bug.options)
    assert outcome.status == "passed", str(outcome)


def _kind(component: type) -> str:
    from forwardkit.testing.checks.common import kind_of_class

    kind = kind_of_class(component)
    assert kind is not None
    return kind


def test_every_check_implementation_has_a_planted_bug() -> None:
    from forwardkit.kinds import KINDS

    registered = {(name, id(impl)) for kind in KINDS for name in checks_for(kind) for impl in [_IMPLS[name][kind]]}
    planted = {(bug.check, id(_IMPLS[bug.check][_kind(bug.broken)])) for bug in PLANTED}
    missing = sorted(
        f"{name} ({', '.join(k for k, i in _IMPLS[name].items() if id(i) == impl)})"
        for name, impl in registered - planted
    )
    assert not missing, f"checks without a planted bug: {missing}"


def test_the_count_of_planted_bugs() -> None:
    from forwardkit.kinds import KINDS

    targeted = {bug.check for bug in PLANTED}
    assert targeted == {name for kind in KINDS for name in checks_for(kind)}  # every check of the kit
    assert len(PLANTED) == 77


def test_every_kit_check_counts_its_cases() -> None:
    """The no-case rule holds for every check of the kit: each implementation returns its case count."""
    from forwardkit.kinds import KINDS

    for kind in KINDS:
        for name in checks_for(kind):
            impl = _IMPLS[name][kind]
            assert impl.__module__.startswith("forwardkit.testing.checks."), (name, impl.__module__)
            assert inspect.signature(impl).return_annotation in (int, "int"), f"{name} ({kind}) does not count cases"
