"""Growing models: the architecture record in checkpoints, ``Callback.on_resume``, and ``backprop``'s
``on_model_change: keep_state`` (the optimizer takes in the new parameters and keeps the old ones' state)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import torch
from pydantic import Field
from torch import Tensor, nn

from forwardkit.builtin.backprop import carry_optimizer_state
from forwardkit.config import ComponentConfig
from forwardkit.engine import checkpoint as ckpt
from forwardkit.engine.architecture import architecture_state, load_architecture_state
from forwardkit.engine.trainer import Trainer
from forwardkit.interfaces import Callback, Model
from forwardkit.interfaces.context import RunContext
from forwardkit.registry import Registry

from .conftest import Interrupted, interrupted_after


class GrowingMLPConfig(ComponentConfig):
    in_features: int = 2
    num_classes: int = 2
    hidden: int = Field(4, ge=1)


class GrowingMLP(Model):
    """``in -> hidden -> classes``; ``widen(k)`` adds ``k`` hidden units in place (same Parameter objects,
    old entries in the leading block, new output weights zero: the function is unchanged)."""

    Config = GrowingMLPConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.fc1 = nn.Linear(self.config.in_features, self.config.hidden)
        self.fc2 = nn.Linear(self.config.hidden, self.config.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(torch.tanh(self.fc1(x.flatten(1))))

    def widen(self, k: int) -> None:
        with torch.no_grad():
            w1, b1, w2 = self.fc1.weight, self.fc1.bias, self.fc2.weight
            w1.data = torch.cat([w1.data, 0.1 * torch.randn(k, w1.shape[1])])
            b1.data = torch.cat([b1.data, torch.zeros(k)])
            w2.data = torch.cat([w2.data, torch.zeros(w2.shape[0], k)], dim=1)
        self.fc1.out_features += k
        self.fc2.in_features += k

    def architecture_state(self) -> dict[str, Any]:
        return {"hidden": self.fc1.out_features}

    def load_architecture_state(self, state: Mapping[str, Any]) -> None:
        if int(state["hidden"]) != self.fc1.out_features:
            self.widen(int(state["hidden"]) - self.fc1.out_features)


class NoRecordMLP(GrowingMLP):
    """The same growth without the architecture record: its checkpoints cannot be resumed after a growth."""

    architecture_state = None  # type: ignore[assignment]


class WidenAtConfig(ComponentConfig):
    epochs: list[int] = Field(default_factory=lambda: [1], description="epoch ends (1-based) that widen")
    k: int = 3


class WidenAt(Callback):
    """Widens the model by ``k`` at the listed epoch ends and returns True (the rule rebuilds its optimizer)."""

    Config = WidenAtConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.seen = 0

    def on_epoch_end(self, ctx: RunContext) -> bool:
        self.seen += 1
        if self.seen in self.config.epochs:
            ctx.model.widen(self.config.k)
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.seen = int(state["seen"])


class AppendLayer(Callback):
    """Adds ``model.extra`` (a Linear on the logits, identity-initialised) at the first epoch end of a plain
    model that does not record its architecture; ``on_resume`` adds it again from the restored state."""

    Config = ComponentConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.added = False
        self.resumed = 0

    @staticmethod
    def _add(model: nn.Module) -> None:
        extra = nn.Linear(model.fc2.out_features, model.fc2.out_features)
        with torch.no_grad():
            extra.weight.copy_(torch.eye(model.fc2.out_features))
            extra.bias.zero_()
        model.fc2 = nn.Sequential(model.fc2, extra)

    def on_resume(self, ctx: RunContext) -> None:
        self.resumed += 1
        if self.added:
            self._add(ctx.model)

    def on_epoch_end(self, ctx: RunContext) -> bool:
        if not self.added:
            self._add(ctx.model)
            self.added = True
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"added": self.added}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.added = bool(state["added"])


class PlainMLP(GrowingMLP):
    architecture_state = None  # type: ignore[assignment]
    load_architecture_state = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def registry() -> Registry:
    reg = Registry.discover()
    reg.register_class("model", "growing_mlp_test", GrowingMLP)
    reg.register_class("model", "no_record_mlp_test", NoRecordMLP)
    reg.register_class("model", "plain_mlp_test", PlainMLP)
    reg.register_class("callback", "widen_at_test", WidenAt)
    reg.register_class("callback", "append_layer_test", AppendLayer)
    return reg


def _experiment(model: str = "growing_mlp_test", callback: Any = "widen_at_test", **rule: Any) -> dict[str, Any]:
    return {
        "name": "grow",
        "data": {"name": "blobs", "n_samples": 120, "clusters_per_class": 2},
        "model": {"name": model, "hidden": 4},
        "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 0.02, **rule},
        "callbacks": [callback],
        "trainer": {"epochs": 3, "batch_size": 32, "progress": "none", "plots": False, "checkpoint_every_steps": 1},
        "seed": 5,
    }


# ---- the record itself -------------------------------------------------------------------------------------
def test_the_record_comes_from_the_outermost_recording_modules() -> None:
    inner = GrowingMLP(hidden=4)
    wrapper = nn.Sequential(nn.Identity(), inner)
    assert architecture_state(wrapper) == {"1": {"hidden": 4}}
    assert architecture_state(nn.Linear(2, 2)) == {}
    inner.widen(2)
    fresh = nn.Sequential(nn.Identity(), GrowingMLP(hidden=4))
    assert load_architecture_state(fresh, architecture_state(wrapper)) == ["1"]
    fresh.load_state_dict(wrapper.state_dict())  # the weights fit the rebuilt structure
    with pytest.raises(ValueError, match="does not have"):
        load_architecture_state(nn.Linear(2, 2), {"gone": {"hidden": 3}})
    with pytest.raises(ValueError, match="no load_architecture_state"):
        load_architecture_state(nn.Sequential(nn.Linear(2, 2)), {"0": {"hidden": 3}})


def test_only_a_model_that_records_its_architecture_writes_it(registry: Registry, tmp_path) -> None:
    exp = _experiment(callback={"name": "widen_at_test", "epochs": []})
    Trainer(exp, run_dir=tmp_path, registry=registry, verbose=False).fit()
    loaded = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "checkpoints"))
    assert loaded.state["architecture"] == {"": {"hidden": 4}}  # it records (unchanged) what it is
    Trainer(_experiment(model="plain_mlp_test", callback={"name": "widen_at_test", "epochs": []}),
            run_dir=tmp_path / "plain", registry=registry, verbose=False).fit()
    plain = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "plain" / "checkpoints"))
    assert "architecture" not in plain.state


# ---- resume after a growth -----------------------------------------------------------------------------------
def _full_and_resumed(exp: dict[str, Any], registry: Registry, tmp_path, at: int) -> tuple[Trainer, Trainer]:
    full = Trainer(exp, run_dir=tmp_path / "full", registry=registry, verbose=False)
    full.fit()
    with pytest.raises(Interrupted):
        interrupted_after(at)(exp, run_dir=tmp_path / "cut", registry=registry, verbose=False).fit()
    resumed = Trainer(exp, run_dir=tmp_path / "cut", resume=True, registry=registry, verbose=False)
    resumed.fit()
    return full, resumed


@pytest.mark.parametrize("mode", ["reset", "keep_state"])
def test_a_run_killed_after_a_growth_resumes_bit_identically(registry: Registry, tmp_path, mode: str) -> None:
    exp = _experiment(on_model_change=mode)  # 84 training samples: 3 steps per epoch, growth after step 3
    full, resumed = _full_and_resumed(exp, registry, tmp_path, at=5)
    assert full.model.fc1.out_features == resumed.model.fc1.out_features == 7
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = full.rule.optimizer.state_dict()["state"], resumed.rule.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])


def test_without_the_record_the_grown_weights_do_not_fit(registry: Registry, tmp_path) -> None:
    exp = _experiment(model="no_record_mlp_test")
    with pytest.raises(Interrupted):
        interrupted_after(5)(exp, run_dir=tmp_path, registry=registry, verbose=False).fit()
    with pytest.raises(ckpt.CheckpointError, match="does not fit the model"):
        Trainer(exp, run_dir=tmp_path, resume=True, registry=registry, verbose=False).fit()


def test_a_callback_re_applies_its_changes_to_a_plain_model_on_resume(registry: Registry, tmp_path) -> None:
    exp = _experiment(model="plain_mlp_test", callback="append_layer_test")
    full, resumed = _full_and_resumed(exp, registry, tmp_path, at=5)
    assert isinstance(resumed.model.fc2, nn.Sequential) and resumed.callbacks[0].resumed == 1
    assert full.callbacks[0].resumed == 0  # on_resume runs on resume only
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- backprop's optimizer after a change ------------------------------------------------------------------------
def test_keep_state_carries_the_moments_and_pads_the_grown_parameters(registry: Registry) -> None:
    exp = _experiment(on_model_change="keep_state",
                      callback={"name": "widen_at_test", "epochs": [1], "k": 3})
    exp["trainer"] = {**exp["trainer"], "epochs": 1}
    trainer = Trainer(exp, write=False, registry=registry, verbose=False)
    trainer.fit()  # one epoch, widened at its end: the optimizer was rebuilt once
    opt = trainer.rule.optimizer
    params = [p for g in opt.param_groups for p in g["params"]]
    assert {id(p) for p in params} == {id(p) for p in trainer.model.parameters()}
    w1 = trainer.model.fc1.weight
    state = opt.state[w1]
    assert state["exp_avg"].shape == w1.shape and torch.all(state["exp_avg"][4:] == 0)
    assert torch.any(state["exp_avg"][:4] != 0) and float(state["step"]) == 3.0


def test_carry_optimizer_state_keeps_equal_shapes_pads_growth_and_drops_the_rest() -> None:
    kept, grown, shrunk, new = (nn.Parameter(torch.randn(2, 3)) for _ in range(4))
    old = torch.optim.Adam([kept, grown, shrunk], lr=0.1)
    for p in (kept, grown, shrunk):
        p.grad = torch.ones_like(p)
    old.step()
    before = {k: v.clone() for k, v in old.state[kept].items()}
    grown.data = torch.randn(4, 3)
    shrunk.data = torch.randn(1, 3)
    new_opt = torch.optim.Adam([kept, grown, shrunk, new], lr=0.1)
    assert carry_optimizer_state(old, new_opt) == 2
    assert all(torch.equal(new_opt.state[kept][k], v) for k, v in before.items())
    assert new_opt.state[grown]["exp_avg"].shape == (4, 3) and torch.all(new_opt.state[grown]["exp_avg"][2:] == 0)
    assert shrunk not in new_opt.state and new not in new_opt.state


def test_reset_is_the_default_and_starts_the_moments_again(registry: Registry) -> None:
    exp = _experiment(callback={"name": "widen_at_test", "epochs": [1], "k": 3})
    exp["trainer"] = {**exp["trainer"], "epochs": 1}
    trainer = Trainer(exp, write=False, registry=registry, verbose=False)
    trainer.fit()
    assert trainer.rule.config.on_model_change == "reset" and not trainer.rule.optimizer.state


def test_a_rebuild_keeps_what_was_frozen() -> None:
    class Rebuilding(GrowingMLP):
        def load_architecture_state(self, state: Mapping[str, Any]) -> None:  # new modules, as a rebuild makes
            self.fc1 = nn.Linear(self.config.in_features, int(state["hidden"]))
            self.fc2 = nn.Linear(int(state["hidden"]), self.config.num_classes)
            self.extra = nn.Linear(1, 1)

    model = Rebuilding(hidden=4)
    model.fc1.weight.requires_grad_(False)
    load_architecture_state(model, {"": {"hidden": 6}})
    assert model.fc1.weight.shape == (6, 2) and not model.fc1.weight.requires_grad
    assert model.fc1.bias.requires_grad and model.extra.weight.requires_grad
