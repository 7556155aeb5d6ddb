"""The learning rules: ``bt2_rule`` (BT^2's loss, official ``trainers/transfer_trainer.py``) and ``bct_rule`` (the
BCT baseline, official ``trainers/bct_trainer.py``), both on a ``compat_system`` whose frozen members are the old
(and the independent new) model.

Each rule adds its terms to the task loss (the cross-entropy ``CE(W f, y)`` of the trained member) and hands the
update to the builtin ``backprop`` rule (``optim``: Adam 1e-3, weight decay 2^-15, cosine), so schedules,
clipping, callbacks' gradient hooks and exact resume are the trainer's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import forwardkit
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext
from forwardkit_bt2.basis_transform import BasisTransformHead, find_head, find_linear
from forwardkit_bt2.config import BCTRuleConfig, BT2RuleConfig
from forwardkit_bt2.embeddings import classifier_input, embed_frozen
from forwardkit_bt2.teachers import EmbeddingCache, PseudoClassifier


def _conformance_system(new: dict[str, Any], adapters: dict[str, Any] | None = None) -> dict[str, Any]:
    """A tiny compat_system for the conformance kit (8 x 8 single-channel images)."""
    tiny = {"name": "bt2_cnn", "widths": [4], "embed_dim": 4}
    return {"name": "compat_system", "image_size": 8, "num_classes": 3, "in_channels": 1,
            "members": {"old": tiny, "indep": tiny, "new": new}, "adapters": adapters or {}, "train": "new"}


#: BT^2 member: a backbone with an 8-d embedding and the head (d_new = d_old = 4, k = 2)
BT2_CONFORMANCE_MODEL = _conformance_system(
    {"name": "bt2_cnn", "widths": [4], "embed_dim": 8, "norm_feature": False},
    {"new": [{"name": "basis_transform_head", "d_new": 4, "d_old": 4, "to_add": 2}]})
#: BCT member: a plain 6-d embedding, compatible on its 4-d prefix
BCT_CONFORMANCE_MODEL = _conformance_system({"name": "bt2_cnn", "widths": [4], "embed_dim": 6})
_BLOBS = {"name": "blobs", "image_size": 8, "image_channels": 1, "n_samples": 96, "num_classes": 3}


def _system(model: nn.Module) -> Any:
    from forwardkit_bt2.system import CompatSystem

    if not isinstance(model, CompatSystem):
        raise ForwardkitError(f"this rule trains a compat_system (the old, independent and new models as members), "
                              f"got {type(model).__name__}; see examples/bt2-mnist.yaml")
    return model


def _classes(member: nn.Module) -> int:
    head = find_head(member)
    return head.classifier.out_features if head is not None else find_linear(member)[1].out_features


class _TeacherRule(LearningRule):
    """Shared plumbing: frozen references, the pseudo-classifier, the delegated backprop update."""

    config: Any

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.inner: LearningRule | None = None
        self.caches: dict[str, EmbeddingCache] = {}
        self.pseudo: PseudoClassifier | None = None
        self.parts: dict[str, float] = {}

    def _references(self) -> list[str]:
        return [self.config.old]

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        system = _system(model)
        self.system = system
        self.new = system.trained
        for name in self._references():
            if name == system.config.train:
                raise ForwardkitError(f"the reference member {name!r} is the member being trained")
        self.caches = {name: EmbeddingCache(system.member(name), enabled=self.config.cache_embeddings)
                       for name in self._references()}
        old = system.member(self.config.old)
        dim = _embed_dim(old)
        self.pseudo = PseudoClassifier(_classes(self.new), dim)
        if self.config.pseudo_data is not None:
            emb, labels = _embed_split(old, self.config.pseudo_data, self.config.pseudo_batch_size, ctx.device)
            self.pseudo.fit(emb, labels)
        self.inner = forwardkit.create("learning_rule", "backprop", dict(self.config.optim))
        self.inner.setup(model, ctx)

    def _pseudo_weight(self, phi_old: Tensor, y: Tensor, ctx: RunContext) -> Tensor:
        assert self.pseudo is not None
        if not self.pseudo.fixed and ctx.epoch == 0 and torch.is_grad_enabled():
            self.pseudo.update(phi_old, y)
        return self.pseudo.weight.to(phi_old.device)

    def extra_loss(self, batch: Mapping[str, Tensor], ctx: RunContext) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert self.inner is not None and ctx.loss_fn is not None, "setup() must run first"
        task_loss: Callable[[Any, Mapping[str, Tensor]], Tensor] = ctx.loss_fn

        def loss_fn(output: Any, part: Mapping[str, Tensor]) -> Tensor:
            return task_loss(output, part) + self.extra_loss(part, ctx)

        ctx.loss_fn = loss_fn
        try:
            metrics = self.inner.step(batch, ctx)
        finally:
            ctx.loss_fn = task_loss
        return {**metrics, **self.parts}

    def model_changed(self, model: nn.Module, ctx: RunContext) -> None:
        assert self.inner is not None
        self.inner.model_changed(model, ctx)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict() if self.inner is not None else None,
                "caches": {k: c.state_dict() for k, c in self.caches.items()},
                "pseudo": self.pseudo.state_dict() if self.pseudo is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("inner") is not None:
            assert self.inner is not None, "setup() must run before load_state_dict()"
            self.inner.load_state_dict(state["inner"])
        for name, cache_state in (state.get("caches") or {}).items():
            if name in self.caches:
                self.caches[name].load_state_dict(cache_state)
        if state.get("pseudo") is not None and self.pseudo is not None:
            self.pseudo.load_state_dict(state["pseudo"])


def _embed_dim(member: nn.Module) -> int:
    head = find_head(member)
    return head.embed_dim if head is not None else find_linear(member)[1].in_features


def _embed_split(model: nn.Module, spec: Mapping[str, Any], batch_size: int,
                 device: torch.device) -> tuple[Tensor, Tensor]:
    """The old model's L2-normalised embeddings ``(N, D)`` and labels ``(N,)`` of the 'train' split of ``spec``."""
    data = forwardkit.create("dataset", spec["name"], {k: v for k, v in spec.items() if k != "name"})
    split = data.split("train")
    embs, labels = [], []
    for start in range(0, len(split), batch_size):
        items = [split[i] for i in range(start, min(start + batch_size, len(split)))]
        x = torch.stack([it["x"] for it in items]).to(device)
        embs.append(F.normalize(embed_frozen(model, x), dim=1).cpu())
        labels.append(torch.stack([it["y"] for it in items]))
    return torch.cat(embs), torch.cat(labels)


class BT2Rule(_TeacherRule):
    """``bt2_rule``: ``L = CE(W f, y) + lambda_3 (1 - cos(bct, phi_old)) + lambda_1 (1 - cos(f, phi_ind))
    + lambda_2 CE(normalize(bct) P^T, y)`` (card "Mechanism"; official ``TransferTrainer.train``).

    ``bct`` ``(B, d_old)`` and ``f`` ``(B, d_new)`` come from the trained member's BasisTransformHead, ``phi_old``
    and ``phi_ind`` from the frozen ``old`` and ``indep`` members (L2-normalised, cached per sample).
    """

    Config = BT2RuleConfig
    config: BT2RuleConfig
    conformance_models = (BT2_CONFORMANCE_MODEL,)
    conformance_experiment = {"data": _BLOBS, "model": BT2_CONFORMANCE_MODEL}

    def _references(self) -> list[str]:
        return [self.config.old, self.config.indep]

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        super().setup(model, ctx)
        head = find_head(self.new)
        if head is None:
            raise ForwardkitError(f"bt2_rule: the trained member {self.system.config.train!r} has no "
                                  "basis_transform_head (add it under the compat_system's adapters)")
        self.head: BasisTransformHead = head
        old_dim, ind_dim = _embed_dim(self.system.member(self.config.old)), _embed_dim(
            self.system.member(self.config.indep))
        if old_dim != head.config.d_old or ind_dim != head.config.d_new:
            raise ForwardkitError(f"bt2_rule: the old model embeds in {old_dim} dims and the independent one in "
                                  f"{ind_dim}; the head has d_old={head.config.d_old}, d_new={head.config.d_new}")

    def extra_loss(self, batch: Mapping[str, Tensor], ctx: RunContext) -> Tensor:
        cfg, out = self.config, self.head.last
        assert out is not None, "the trained member's forward did not run through its BasisTransformHead"
        x, y = batch["x"], batch["y"]
        phi_old = self.caches[cfg.old].get(x)
        phi_ind = self.caches[cfg.indep].get(x)
        terms = bt2_terms(out.bct, out.f, phi_old, phi_ind, self._pseudo_weight(phi_old, y, ctx), y)
        self.parts = {f"loss_{k}": float(v.detach()) for k, v in terms.items()}
        return cfg.lambda_3 * terms["align_old"] + cfg.lambda_1 * terms["keep_new"] + cfg.lambda_2 * terms["influence"]


def bt2_terms(bct: Tensor, f: Tensor, phi_old: Tensor, phi_ind: Tensor, pseudo: Tensor, y: Tensor,
              ) -> dict[str, Tensor]:
    """BT^2's three extra terms (the task's ``CE(W f, y)`` is the fourth): ``bct`` ``(B, d_old)`` and ``f``
    ``(B, d_new)`` from the head (normalised here, as the official trainer does), ``phi_old`` ``(B, d_old)`` and
    ``phi_ind`` ``(B, d_new)`` unit rows, ``pseudo`` ``(K, d_old)``, labels ``y`` ``(B,)``.

    ``align_old = 1 - mean cos(bct, phi_old)``, ``keep_new = 1 - mean cos(f, phi_ind)``,
    ``influence = CE(normalize(bct) P^T, y)``.
    """
    bct, f = F.normalize(bct, dim=1), F.normalize(f, dim=1)
    return {"align_old": 1.0 - (bct * phi_old).sum(dim=1).mean(),
            "keep_new": 1.0 - (f * phi_ind).sum(dim=1).mean(),
            "influence": F.cross_entropy(bct @ pseudo.T, y)}


class BCTRule(_TeacherRule):
    """``bct_rule``: ``L = CE(W phi_new, y) + alpha CE(phi_new[:, :m] P^T, y)`` (Shen et al. 2020, eq. 3 with the
    synthesised classifier for new classes; official ``BCTTrainer.train``); ``m`` is ``prefix`` (default: the
    old embedding's width), so a wider new embedding is trained compatible on its prefix ("naive extra
    dimensions")."""

    Config = BCTRuleConfig
    config: BCTRuleConfig
    conformance_models = (BCT_CONFORMANCE_MODEL,)
    conformance_experiment = {"data": _BLOBS, "model": BCT_CONFORMANCE_MODEL}

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        super().setup(model, ctx)
        if find_head(self.new) is not None:
            raise ForwardkitError("bct_rule trains a plain new model; its member has a basis_transform_head "
                                  "(use bt2_rule)")
        self.width = self.config.prefix or _embed_dim(self.system.member(self.config.old))
        if self.width != _embed_dim(self.system.member(self.config.old)):
            raise ForwardkitError(f"bct_rule: prefix {self.width} differs from the old embedding's width")
        if self.width > _embed_dim(self.new):
            raise ForwardkitError(f"bct_rule: the new embedding ({_embed_dim(self.new)} dims) is narrower than the "
                                  f"old one ({self.width})")
        self._hook = classifier_input(self.new)
        self._feature = self._hook.__enter__()

    def extra_loss(self, batch: Mapping[str, Tensor], ctx: RunContext) -> Tensor:
        x, y = batch["x"], batch["y"]
        phi_old = self.caches[self.config.old].get(x)
        prefix = self._feature()[:, : self.width]
        if self.config.renormalize_prefix:
            prefix = F.normalize(prefix, dim=1)
        influence = F.cross_entropy(prefix @ self._pseudo_weight(phi_old, y, ctx).T, y)
        self.parts = {"loss_influence": float(influence.detach())}
        return self.config.alpha * influence
