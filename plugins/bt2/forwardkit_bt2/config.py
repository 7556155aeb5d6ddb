"""Configs of the bt2 components, with the paper's defaults (torch-free: discovery, ``forwardkit show`` and
experiment validation import this module).

Sizes follow the official code (YifeiZhou02/BT-2, ``models/resnet.py``, ``ResNet_ortho``): ``d_new`` is
``embedding_dim``, ``d_old`` is ``embedding_dim_old``, ``to_add`` is ``to_add_dim`` and ``C`` the scale of the
new feature; the CIFAR-100 config (``configs/cifar100_transfer.yaml``) sets 128 / 128 / 32 / 2.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from forwardkit.config import ComponentConfig

#: the optimisation every bt2 rule delegates to the builtin ``backprop`` rule: the official transfer recipe
#: (``cifar100_transfer.yaml``: Adam, lr 1e-3, weight decay 2^-15, cosine schedule with warm-up)
DEFAULT_OPTIM: dict[str, Any] = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 3.0517578125e-05,
                                 "schedule": "cosine", "warmup_epochs": 0.0}


def _check_optim(value: dict[str, Any]) -> dict[str, Any]:
    """Validate the ``optim`` mapping against the builtin ``backprop`` rule's Config (through the registry)."""
    if "name" in value:
        raise ValueError("optim holds the fields of the builtin 'backprop' rule (optimizer, lr, schedule, ...), "
                         "not a rule spec with a 'name'")
    import forwardkit

    config_cls = forwardkit.get_registry().get("learning_rule", "backprop").load_config()
    config_cls.model_validate(value)  # raises with the field that is wrong
    return dict(value)


def _check_spec(value: Any, what: str) -> dict[str, Any]:
    if isinstance(value, str):
        return {"name": value}
    if not isinstance(value, dict) or "name" not in value:
        raise ValueError(f"{what} must be a component spec, a name or {{name: ..., **config}}, got {value!r}")
    return dict(value)


class BasisTransformHeadConfig(ComponentConfig):
    """The basis-transformation head (official ``ResNet_ortho``) that replaces a model's classifier."""

    d_new: int = Field(128, ge=1, description="d_new: width of the new feature f = e[:, :d_new] (embedding_dim)")
    d_old: int = Field(128, ge=1, description="d_old: width of the old embedding space (embedding_dim_old)")
    to_add: int = Field(32, ge=0, description="k: extra dimensions; the deployed embedding has d_new + k (to_add_dim)")
    C: float = Field(2.0, gt=0.0, description="scale of the new feature before its rotation O_p (|phi|^2 = 1 + C^2)")
    norm_feature: bool = Field(True, description="L2-normalise the old-branch output and f before the rotations")
    num_classes: int | None = Field(None, ge=1, description="classes of the new classifier W f (None: those of the "
                                    "classifier it replaces, so the model is called as before)")
    old_branch: Literal["linear", "conv1x1"] = Field(
        "linear", description="the old branch a = fc3(ReLU(e)): a Linear, or the official 1x1 convolution on the "
        "pooled (B, C, 1, 1) feature (the same map)")
    head: str | None = Field(None, description="dotted path of the classifier (nn.Linear) to replace (None: the "
                             "last nn.Linear of the model); its input is the backbone output e")
    orthogonal_map: Literal["matrix_exp", "cayley", "householder"] | None = Field(
        None, description="torch.nn.utils.parametrizations.orthogonal's map (None: torch's default, as the official "
        "code)")

    @model_validator(mode="after")
    def _check_sizes(self) -> BasisTransformHeadConfig:
        if self.d_new + self.to_add < self.d_old:
            raise ValueError(f"d_new + to_add ({self.d_new} + {self.to_add}) must be at least d_old ({self.d_old}): "
                             "u = [normalize(a[:, :k]), O_p C f] would be shorter than the old space")
        if self.to_add > self.d_old:
            warnings.warn(f"to_add ({self.to_add}) > d_old ({self.d_old}): the compatible part bct = O_2 u[:, :d_old] "
                          "then holds no coordinate of the new feature f (only the old branch)", UserWarning,
                          stacklevel=2)
        return self


class CompatSystemConfig(ComponentConfig):
    """Model versions of one retrieval system as one model: the members and the one that is trained now."""

    members: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            "old": {"name": "bt2_cnn", "widths": [16, 32], "embed_dim": 32},
            "indep": {"name": "bt2_cnn", "widths": [32, 64, 128], "embed_dim": 32},
            "bt2": {"name": "bt2_cnn", "widths": [32, 64, 128], "embed_dim": 64, "norm_feature": False},
        },
        description="member name -> model spec ({name: ..., **config}); num_classes / in_channels are filled from "
        "the system's own when a member's Config has them and its spec does not set them")
    adapters: dict[str, list[dict[str, Any]]] = Field(
        default_factory=lambda: {"bt2": [{"name": "basis_transform_head", "d_new": 32, "d_old": 32, "to_add": 8,
                                          "C": 2.0}]},
        description="member name -> adapter specs applied to that member when the system is built")
    train: str = Field("bt2", description="the member this stage trains: forward() is its forward; every other "
                       "member is a frozen reference (requires_grad False)")
    in_channels: int = Field(1, ge=1, description="filled from the dataset")
    num_classes: int = Field(10, ge=1, description="filled from the dataset")
    image_size: int = Field(28, ge=4, description="side of example_batch()'s images (the members pool globally)")

    @field_validator("members")
    @classmethod
    def _members(cls, value: dict[str, Any]) -> dict[str, dict[str, Any]]:
        if not value:
            raise ValueError("a compat_system needs at least one member")
        bad = [k for k in value if not k.isidentifier()]
        if bad:
            raise ValueError(f"member names must be identifiers (they are module names), got {bad}")
        return {k: _check_spec(v, f"members.{k}") for k, v in value.items()}

    @field_validator("adapters")
    @classmethod
    def _adapters(cls, value: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {k: [_check_spec(a, f"adapters.{k}") for a in v] for k, v in value.items()}

    @model_validator(mode="after")
    def _known(self) -> CompatSystemConfig:
        if self.train not in self.members:
            raise ValueError(f"train {self.train!r} is not a member ({', '.join(self.members)})")
        unknown = sorted(set(self.adapters) - set(self.members))
        if unknown:
            raise ValueError(f"adapters name members that do not exist: {', '.join(unknown)}")
        return self


class BT2CNNConfig(ComponentConfig):
    """The card's small CNN: conv3x3-BN-ReLU-maxpool blocks, global pooling, a Linear embedding, a bias-free
    classifier (the official backbones' layout: ``(logits, feature)`` with the classifier on the feature)."""

    in_channels: int = Field(1, ge=1)
    num_classes: int = Field(10, ge=1)
    widths: list[int] = Field(default_factory=lambda: [32, 64, 128], min_length=1, description="channels per block")
    embed_dim: int = Field(64, ge=1, description="width of the embedding (2 x 32 feeds basis_transform_head)")
    last_nonlin: bool = Field(True, description="ReLU on the embedding (the official last_nonlin)")
    norm_feature: bool = Field(True, description="L2-normalise the embedding before the classifier (official "
                               "norm_feature; off for the backbone of the BT head, whose inner ResNet has it off)")
    image_size: int = Field(28, ge=4, description="side of example_batch()'s images (the model pools globally)")

    @field_validator("widths")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(w < 1 for w in value):
            raise ValueError(f"widths must be positive, got {value}")
        return value


class _TeacherRuleConfig(ComponentConfig):
    old: str = Field("old", description="the compat_system member that is the old (deployed) model")
    pseudo_data: dict[str, Any] | None = Field(
        None, description="the new training set as a dataset spec: the pseudo-classifier P is the per-class mean "
        "of the old model's embeddings over its 'train' split, before training (the official procedure); None: "
        "running class means over the first epoch's batches")
    pseudo_batch_size: int = Field(500, ge=1, description="batch size of the pass that builds P from pseudo_data")
    cache_embeddings: bool = Field(True, description="keep the frozen models' embedding of every training sample "
                                   "seen (keyed by its content), so each is computed once (the official feature "
                                   "dicts, keyed by path)")
    optim: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_OPTIM),
                                  description="fields of the builtin 'backprop' rule that does the update")

    @field_validator("optim")
    @classmethod
    def _optim(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_optim(value)

    @field_validator("pseudo_data")
    @classmethod
    def _data(cls, value: Any) -> dict[str, Any] | None:
        return None if value is None else _check_spec(value, "pseudo_data")


class BT2RuleConfig(_TeacherRuleConfig):
    """BT^2's four-term loss (official ``trainers/transfer_trainer.py``), on a compat_system."""

    lambda_1: float = Field(1.0, ge=0.0, description="weight of 1 - cos(f, phi_ind) (keep the new feature)")
    lambda_2: float = Field(10.0, ge=0.0, description="weight of CE(normalize(bct) P^T, y) (BCT influence loss)")
    lambda_3: float = Field(5.0, ge=0.0, description="weight of 1 - cos(bct, phi_old) (align with the old space)")
    indep: str = Field("indep", description="the member that is the independently trained new model")


class BCTRuleConfig(_TeacherRuleConfig):
    """BCT (Shen et al. 2020): CE of the new model plus alpha x CE of its embedding through the pseudo-classifier."""

    alpha: float = Field(10.0, ge=0.0, description="weight of the influence loss (BCT's lambda; the BT^2 repository's "
                         "BCT baseline, configs/cifar100_BCT.yaml, uses alpha = 10; the BCT paper 1)")
    prefix: int | None = Field(None, ge=1, description="coordinates of the new embedding put through P (None: the "
                               "old embedding's width; a wider new embedding is then compatible on its prefix)")
    renormalize_prefix: bool = Field(True, description="L2-normalise the prefix before P (a no-op when the new "
                                     "embedding is already unit and as wide as the old one)")


class CompatRetrievalConfig(ComponentConfig):
    """Cross-model retrieval (official ``utils/eval_utils.py``, ``cmc_evaluate``): CMC top-k and mAP."""

    topk: list[int] = Field(default_factory=lambda: [1, 5], min_length=1, description="CMC ranks reported")
    gallery: str = Field("old", description="the member whose embeddings form the cross-model gallery")
    pairs: list[tuple[str, str]] | None = Field(
        None, description="(query member, gallery member) pairs (None: every member against itself and every "
        "other member against `gallery`)")
    renormalize_slices: bool = Field(False, description="L2-normalise the min(dim)-prefix of both sides (the "
                                     "official evaluation does not: it slices and takes the dot product)")
    max_samples: int | None = Field(None, ge=2, description="use only the first samples of the data (None: all)")

    @field_validator("topk")
    @classmethod
    def _ks(cls, value: list[int]) -> list[int]:
        if any(k < 1 for k in value):
            raise ValueError(f"topk ranks must be >= 1, got {value}")
        return sorted(set(value))


class ClassSubsetConfig(ComponentConfig):
    """Another dataset with some splits restricted to some classes (the old model's training set)."""

    source: dict[str, Any] = Field(default_factory=lambda: {"name": "mnist5k"},
                                   description="the dataset spec to restrict")
    classes: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1,
                               description="the class indices kept")
    splits: list[str] = Field(default_factory=lambda: ["train"], description="the splits restricted (the "
                              "others are the source's)")

    @field_validator("source")
    @classmethod
    def _source(cls, value: Any) -> dict[str, Any]:
        return _check_spec(value, "source")

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[int]) -> list[int]:
        if any(c < 0 for c in value) or len(set(value)) != len(value):
            raise ValueError(f"classes must be distinct non-negative indices, got {value}")
        return sorted(value)
