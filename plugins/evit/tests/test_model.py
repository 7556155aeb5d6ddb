"""EViT-ViT, the adapter, the keep-rate schedule, MACs accounting, the compressor and the analyzer."""

import itertools
import math

import pytest
import torch
from forwardkit_evit.adapter import apply_evit
from forwardkit_evit.analyzer import KeptTokenAnalyzer, kept_token_masks
from forwardkit_evit.compressor import EViTCompressor
from forwardkit_evit.config import KeepRateScheduleConfig, default_drop_loc
from forwardkit_evit.macs import analytic_macs, measured_macs
from forwardkit_evit.model import EViTViT, set_keep_rate
from forwardkit_evit.schedule import KeepRateSchedule, apply_keep_rate_schedule, keep_rate_at

import forwardkit
from forwardkit.interfaces import RunContext

SMALL = {"image_size": 12, "patch_size": 2, "dim": 16, "num_heads": 2, "num_classes": 5, "in_channels": 1}


def _images(n=4, size=12, seed=0):
    return torch.randn(n, size, size, 1, generator=torch.Generator().manual_seed(seed))


def test_default_drop_loc_is_the_depth_quarters():
    assert default_drop_loc(12) == [3, 6, 9]
    assert default_drop_loc(6) == [1, 3, 4]
    assert EViTViT(depth=12, dim=8, num_heads=2, image_size=8).config.resolved_drop_loc() == [3, 6, 9]


def test_model_token_counts_follow_the_ceil_rule_per_layer():
    torch.manual_seed(0)
    model = EViTViT(**SMALL, depth=6, keep_rate=0.7).eval()  # 36 patches, drop_loc (1, 3, 4)
    seen = []
    hooks = [b.register_forward_hook(lambda _m, _i, out: seen.append(out.shape[1] - 1)) for b in model.blocks]
    model(_images())
    for h in hooks:
        h.remove()
    m1 = math.ceil(0.7 * 36) + 1
    m3 = math.ceil(0.7 * m1) + 1
    m4 = math.ceil(0.7 * m3) + 1
    assert seen == [36, m1, m1, m3, m4, m4] == model.token_counts()


def test_keep_rate_one_is_exactly_the_plain_vit():
    torch.manual_seed(0)
    plain = EViTViT(**SMALL, keep_rate=1.0).eval()
    evit = EViTViT(**SMALL, keep_rate=0.7).eval()
    assert not plain.reorganizers() and len(evit.reorganizers()) == 3
    evit.load_state_dict(plain.state_dict())  # EViT adds no parameters
    x = _images()
    set_keep_rate(evit, 1.0)
    assert torch.equal(evit(x), plain(x))  # bitwise
    set_keep_rate(evit, None)
    assert not torch.allclose(evit(x), plain(x))
    assert EViTViT(**SMALL, keep_rate=0.7, drop_loc=[]).reorganizers() == []


def test_adapter_defaults_to_blocks_3_6_9_of_12_and_keeps_the_weights():
    torch.manual_seed(0)
    vit = EViTViT(image_size=8, patch_size=2, dim=16, num_heads=2, depth=12, keep_rate=1.0).eval()
    adapter = forwardkit.create("adapter", "evit")
    evit = adapter.apply(vit).eval()
    assert [i for i, _ in evit.reorganizers()] == [3, 6, 9] and evit.config.drop_loc == [3, 6, 9]
    assert not vit.reorganizers()  # the given model is untouched
    ref, new = vit.state_dict(), evit.state_dict()
    assert ref.keys() == new.keys() and all(torch.equal(ref[k], new[k]) for k in ref)
    x = torch.randn(3, 8, 8, 1)
    assert torch.equal(apply_evit(vit, keep_rate=1.0)(x), vit(x))
    assert not torch.allclose(evit(x), vit(x))
    rebuilt = EViTViT(evit.config)  # the updated config describes the adapted model
    rebuilt.load_state_dict(evit.state_dict())
    assert torch.equal(rebuilt.eval()(x), evit(x))


def test_adapter_rejects_a_model_without_class_token():
    with pytest.raises(TypeError, match="class token"):
        apply_evit(forwardkit.build_model({"name": "metaformer", "depths": [1], "dims": [8], "num_classes": 2}))


def test_schedule_is_one_then_cosine_down_to_the_base():
    kw = {"start_epoch": 2.0, "shrink_epochs": 4.0, "base": 0.5}
    assert keep_rate_at(0.0, **kw) == keep_rate_at(1.99, **kw) == 1.0
    assert keep_rate_at(6.0, **kw) == keep_rate_at(9.0, **kw) == 0.5
    assert keep_rate_at(4.0, **kw) == pytest.approx(0.75)  # cosine midpoint
    ts = [2 + 4 * i / 50 for i in range(51)]
    values = [keep_rate_at(t, **kw) for t in ts]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[5] == pytest.approx(0.5 + 0.25 * (1 + math.cos(math.pi * 0.1)))


def test_schedule_callback_sets_the_runtime_rate_per_step_and_restores_it():
    model = EViTViT(**SMALL, keep_rate=0.5)
    cb = KeepRateSchedule(start_epoch=1.0, shrink_epochs=2.0)
    ctx = RunContext(model=model, steps_per_epoch=10)
    cb.on_fit_start(ctx)
    assert all(r.keep_rate == 1.0 for _, r in model.reorganizers()) and model.token_counts()[-1] == 36
    ctx.step = 20  # epoch 2.0: cosine midpoint between 1 and 0.5
    cb.on_batch_start({}, ctx)
    assert all(r.keep_rate == pytest.approx(0.75) for _, r in model.reorganizers())
    cb.on_fit_end(ctx)
    assert all(r.keep_rate == 0.5 for _, r in model.reorganizers())
    assert apply_keep_rate_schedule(model, 200.0, KeepRateScheduleConfig(base_keep_rate=0.7)) == [0.7] * 3


def test_analytic_macs_decrease_with_kappa_and_match_the_hook_count():
    for rate, fuse in ((1.0, True), (0.7, True), (0.4, False)):
        model = EViTViT(**SMALL, depth=6, keep_rate=rate, fuse=fuse)
        analytic, hooked = analytic_macs(model), measured_macs(model)
        assert abs(analytic - hooked) <= 0.01 * hooked
    model = EViTViT(**SMALL, depth=6, keep_rate=0.5)
    values = [analytic_macs(model, keep_rate=r) for r in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2)]
    assert all(a > b for a, b in itertools.pairwise(values))
    mini = EViTViT()  # evit-vit-mini: about 1/3 fewer MACs at kappa 0.7
    assert analytic_macs(mini, keep_rate=0.7) / analytic_macs(EViTViT(keep_rate=1.0)) < 0.72


def test_compressor_keeps_parameters_and_cuts_macs():
    torch.manual_seed(0)
    vit = EViTViT(**SMALL, keep_rate=1.0)
    data = [{"x": _images(8, seed=s), "y": torch.randint(0, 5, (8,))} for s in range(2)]
    new, report = EViTCompressor(epochs=1, latency_repeats=1).compress(vit, data)
    assert report.after.parameters == report.before.parameters
    assert report.after.macs < 0.8 * report.before.macs
    assert report.details["token_counts_after"][-1] < 36 and len(new.reorganizers()) == 3


def test_analyzer_masks_match_the_kept_counts():
    torch.manual_seed(0)
    model = EViTViT(**SMALL, depth=6, keep_rate=0.7).eval()
    x = _images(6)
    masks, layers, masses = kept_token_masks(model, x)
    assert layers == [1, 3, 4] and masks.shape == (6, 3, 36)
    assert (masks[:, 0].sum(1) == math.ceil(0.7 * 36)).all()
    assert (masks[:, 1:] <= masks[:, :-1]).all()  # a patch fused once never comes back as itself
    for j, (_i, reorganizer) in enumerate(model.reorganizers()):
        assert (masks[:, j].sum(1) <= reorganizer.last_keep_idx.shape[1]).all()
        assert ((masses[j] > 0) & (masses[j] <= 1)).all()
    analysis = KeptTokenAnalyzer(figure=False).analyze(model, [{"x": x}])
    assert analysis.numbers["layer1/kept_fraction"] == pytest.approx(math.ceil(0.7 * 36) / 36)
