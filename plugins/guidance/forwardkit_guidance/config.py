"""Configs of the guidance components (torch-free, so `forwardkit show` and `schema` stay fast).

Nested component specs (the guide's model, the wrapped learning rule, the guide's training data) are typed
as specs, so they validate against the registry like any experiment entry, but their JSON schema is a plain
``object`` (``_compact``): a learning-rule config that embeds the full schema of every model and every learning
rule makes ``forwardkit schema`` grow with every plugin that does the same (each embeds the others), which is
what made it hang once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from forwardkit.config import ComponentConfig, DatasetSpec, LearningRuleSpec, ModelSpec

#: the module types the official extractor taps (rep_sim/layer_extract.py), compared by exact class name
DEFAULT_TAP_TYPES = ("Conv2d", "Linear", "AdaptiveAvgPool2d", "LSTM", "RNN", "LayerNorm", "MultiheadAttention",
                     "TransformerDecoderLayer")


def _compact(kind: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}},
                           "description": f"a {kind} spec {{name: ..., **config}} (its fields: `forwardkit show "
                           "<name>`)"})


CompactModelSpec = Annotated[ModelSpec, _compact("model")]
CompactRuleSpec = Annotated[LearningRuleSpec, _compact("learning_rule")]
CompactDatasetSpec = Annotated[DatasetSpec, _compact("dataset")]


class LayerTapsConfig(ComponentConfig):
    """Which module outputs count as a model's layers ("taps"), in execution order (rep_sim/layer_extract.py).

    A module is tapped when its class name is in ``module_types`` (exact class, not subclasses, as the official
    extractor), or, with ``explicit``, when its qualified name (``model.named_modules()``) is listed. Tuple
    outputs give one tap per tensor element (``name-1``, ``name-2``; for RNN/LSTM/GRU the final hidden state is
    left out). A tap keeps its batch axis first; an output whose batch axis cannot be found (no axis, or more
    than one, of the batch's size) is skipped. ``drop_last`` drops the last tap recorded (the logits).
    """

    module_types: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        default_factory=lambda: list(DEFAULT_TAP_TYPES), min_length=1,
        description="class names of the tapped modules (exact type match), e.g. Conv2d, Linear, LayerNorm")
    drop_last: bool = Field(True, description="drop the last tap in execution order (a classifier's logits)")
    explicit: list[str] | None = Field(None, min_length=1, description="tap exactly these modules, by qualified "
                                       "name (model.named_modules()), instead of module_types; e.g. the blocks of "
                                       "a MetaFormer: ['stages.0.blocks.0', ...]")


class GuideConfig(ComponentConfig):
    """The guide network: a model spec whose weights are fixed by ``seed``, optionally trained first.

    Untrained (``trained: false``, the paper's architectural-prior probe): the model is built right after
    ``torch.manual_seed(seed)``, so the same config always gives the same weights. Trained: ``forwardkit.run``
    trains it on ``data`` (backprop, Adam ``lr``, ``epochs``, ``batch_size``, experiment seed ``seed``) before
    use. The global random state of the caller is saved and restored around both, so building a guide never
    changes the random numbers a run draws. The guide is frozen (``requires_grad`` off) and kept in eval mode.
    """

    model: CompactModelSpec = Field(default_factory=lambda: ModelSpec.parse({"name": "guidance_cnn"}),
                                    description="the guide's model spec (default: the card's small CNN)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of the guide's initial weights (and of its "
                      "training run when trained)")
    trained: bool = Field(False, description="train the guide on `data` first (a trained guide transfers knowledge "
                          "as well as the architectural prior)")
    data: CompactDatasetSpec | None = Field(None, description="dataset the guide trains on ('train' split); when "
                                            "given, the guide model's fields are also filled from its metadata "
                                            "(in_channels, num_classes, ...) unless the model spec sets them")
    epochs: int = Field(2, ge=1, description="trained: epochs over data's train split (card: 2)")
    max_steps: int | None = Field(None, ge=1, description="trained: stop after this many steps instead")
    lr: float = Field(1e-3, gt=0.0, description="trained: Adam's learning rate")
    batch_size: int = Field(64, ge=1, description="trained: batch size")

    @model_validator(mode="after")
    def _data_for_training(self) -> GuideConfig:
        if self.trained and self.data is None:
            raise ValueError("a trained guide needs `data` to train on")
        return self


class GuidanceRuleConfig(ComponentConfig):
    """Guidance (Subramaniam et al., sec. 3): ``L = L_task + alpha * sum_(g,t) (1 - sim(T_t, G_g))`` where ``G`` are
    the frozen guide's layer outputs and ``T`` the target's on the same batch, ``sim`` linear CKA (or RSA), the
    pairs ``(g, t)`` from ``mapping``. The update itself is the wrapped ``rule``'s (default: backprop with Adam
    1e-3, the official training loop)."""

    guide: GuideConfig = Field(default_factory=GuideConfig, description="the guide network (model spec, seed, "
                               "untrained or trained)")
    rule: CompactRuleSpec = Field(
        default_factory=lambda: LearningRuleSpec.parse({"name": "backprop", "optimizer": "adam", "lr": 1e-3}),
        description="the learning rule that makes the update; its loss gets the alignment term added")
    metric: Literal["cka", "rsa"] = Field("cka", description="neural distance: 1 - linear CKA (default) or 1 - "
                                          "differentiable RSA (Pearson correlation of cosine-similarity matrices)")
    alpha: float = Field(1.0, ge=0.0, description="weight of the alignment loss (code: rep_sim_alpha = 1.0)")
    mapping: Literal["uniform_round", "explicit"] = Field(
        "uniform_round", description="uniform_round: guide tap i -> target tap round(i (S-1)/(G-1)) (layer_sim.py); "
        "explicit: the `pairs` given")
    pairs: dict[str, str] | None = Field(None, description="explicit mapping: guide tap name -> target tap name")
    dedupe: Literal["last", "sum"] = Field(
        "last", description="several guide taps on one target tap: 'last' keeps only the last guide tap (the "
        "official code's dict overwrite), 'sum' adds every pair")
    guide_input: Literal["same", "noise"] = Field(
        "same", description="what the guide sees: the target's batch (the method) or random noise of the batch's "
        "shape (the code's use_noise ablation: clamp(N(0,1) + 0.1 N(0,1), 0, 1))")
    stop_after_steps: int | None = Field(None, ge=0, description="align only during this rule's first k steps, "
                                         "then train on the task loss alone (code --early_stop: 300)")
    token_wise: bool = Field(False, description="sequence variant: per pair sum over positions n of "
                             "(1 - CKA(T[:, n], G[:, n])) on (B, N, C) taps of equal N")
    target_taps: LayerTapsConfig = Field(default_factory=LayerTapsConfig, description="the target's layers")
    guide_taps: LayerTapsConfig = Field(default_factory=LayerTapsConfig, description="the guide's layers")

    @field_validator("rule")
    @classmethod
    def _not_itself(cls, v: LearningRuleSpec) -> LearningRuleSpec:
        if v.name == "guidance":
            raise ValueError("rule: the update rule cannot be guidance itself")
        return v

    @model_validator(mode="after")
    def _pairs(self) -> GuidanceRuleConfig:
        if self.mapping == "explicit" and not self.pairs:
            raise ValueError("mapping 'explicit' needs `pairs` (guide tap name -> target tap name)")
        if self.mapping != "explicit" and self.pairs:
            raise ValueError("`pairs` is only read with mapping 'explicit'")
        if self.token_wise and self.metric != "cka":
            raise ValueError("token_wise is defined for metric 'cka' (the official tokenwise_sim)")
        return self


class SimilarityConfig(ComponentConfig):
    """Representational similarity of a model's layers to a reference network's on the same inputs (or, without a
    reference, of the model's layers to each other): the full layer x layer table, and the pairs the guidance
    mapping would use. All samples of the given batches, up to ``max_samples``, enter one similarity."""

    reference: GuideConfig | None = Field(None, description="the reference network (built as a guide: seed, "
                                          "optionally trained); None: the model against itself")
    taps: LayerTapsConfig = Field(default_factory=LayerTapsConfig, description="the analysed model's layers")
    reference_taps: LayerTapsConfig = Field(default_factory=LayerTapsConfig, description="the reference's layers")
    dedupe: Literal["last", "sum"] = Field("last", description="which uniform_round pairs are reported as mapped")
    max_samples: int = Field(256, ge=2, description="samples (from the batches, in order) the similarity uses")
    figure: bool = Field(False, description="draw the layer x layer heatmap")


class LayerTapsAnalyzerConfig(LayerTapsConfig):
    """The taps ``LayerTaps`` finds in a model on one batch: name, module type, shape and feature count of each
    (documents the tap list, hence G, S and the mapping, per model)."""


class GuidanceCNNConfig(ComponentConfig):
    """The card's small guide CNN ``conv16-conv32-pool-conv64-pool-fc`` on channels-last ``(B, H, W, C)`` images:
    3x3 convolutions (padding 1) with ReLU, a 2x2 max-pool after the second, an adaptive average pool to
    ``pool_size`` x ``pool_size`` after the third, a Linear classifier."""

    in_channels: int = Field(1, ge=1, description="input channels C (filled from the data's metadata)")
    num_classes: int = Field(10, ge=1, description="classes (filled from the data's metadata)")
    widths: list[int] = Field(default_factory=lambda: [16, 32, 64], min_length=3, max_length=3,
                              description="channels of the three convolutions")
    kernel_size: int = Field(3, ge=1, description="odd kernel side of every convolution (padding keeps the size)")
    pool_size: int = Field(4, ge=1, description="side of the adaptive average pool before the classifier "
                           "(1: global average pooling)")

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("kernel_size must be odd (same padding)")
        return v

    @field_validator("widths")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if min(v) < 1:
            raise ValueError("widths must be positive")
        return v


__all__ = ["DEFAULT_TAP_TYPES", "GuidanceCNNConfig", "GuidanceRuleConfig", "GuideConfig", "LayerTapsAnalyzerConfig",
           "LayerTapsConfig", "SimilarityConfig"]
