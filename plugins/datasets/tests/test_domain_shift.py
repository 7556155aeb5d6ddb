"""style_shift_digits (content fixed, appearance shifted) and the style_shift per-domain task.

The golden checksums below were computed from the original implementation in the ibn-net plugin
(``forwardkit_ibn_net/data.py``, before it moved here) on the same configs: the generator must stay
bit-identical, because IBN-Net's recorded reproduction (plugins/ibn-net/reports/results.json) was
measured on exactly these tensors. If a checksum changes on purpose, the ibn-net reproduction has to be
rerun and its README numbers updated. (They assume the pinned numpy/scikit-image of constraints.txt.)
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from forwardkit_datasets.config import STYLES, StyleShiftDigitsConfig
from forwardkit_datasets.domain_shift import TEXTURES, digit_alpha, render
from forwardkit_datasets.tasks import StyleShift, per_domain_accuracy

import forwardkit
from forwardkit.errors import ForwardkitError

# sha256 of f"{dtype}|{shape}|" + the tensor's bytes, per split and tensor; from the ibn-net implementation.
GOLDEN = {
    "smoke": (  # the ibn-net smoke reproduction's data
        {"n_samples": 300, "target_styles": ["brightness", "texture"]},
        {"train": 238, "val": 31, "test": 62},
        {
            "train": {"x": "422974009fa67477f7394a88f02adb0fba03ff30b8a2fd39117ff8072ded2183",
                      "y": "e96f3881ced987a5868db84addf74d5140304921589986249e0f6044bb6dce1a",
                      "domain": "bc4982da03983a5c1ab29dca307f710e141041e4924c944fefac7eb2390363a7"},
            "val": {"x": "9bf94d443789ffb29afdd5a39fe423aa76364720a91e552b318d4cf276cf5d0e",
                    "y": "04394a9e6825c3183418a47143b18413678439b136494d9563b6fa30f712ca6b",
                    "domain": "e289bce252e6f823bbac728169ca0eb2ccd0d7ef2401b2d47c15e28a04b58f21"},
            "test": {"x": "43eb641075732b9e2f643575dbd29ad06d13e10d8c9efec623052142ca8e378b",
                     "y": "5ffbd0f8f2ab3eb28db2345bea4e957219020b0495d9bab33fba58307cbe4265",
                     "domain": "23657be4891a640f5801fc23ceba68e3c8ada58f4b89850a5522b54ba753f5d3"},
        },
    ),
    "custom": (  # every option away from its default
        {"n_samples": 120, "seed": 3, "test_source": True, "background": 0.1, "shift": 0.3, "contrast": 2.0,
         "target_styles": ["color", "red", "contrast", "texture"]},
        {"train": 98, "val": 11, "test": 55},
        {
            "train": {"x": "89bb018d8c2a781f4d88a84e36d7878763737d55d5a56176d5527f2227d9ace6",
                      "y": "7f42ebbe49e3638cd0b555df1c596fbd8418624d8318294f1602848ed291b8e8",
                      "domain": "4d5e7f51f5b160055db073588298e4abf60b2400e990ec9c860e0b5868eef4b9"},
            "val": {"x": "7c7c254fa68a57164271bd3271e5a959655d357d6d88a067c47490e6a7299cbd",
                    "y": "5e5bc15be0e8de7dc0f22906d184254175f6d3fb43b336b11748bc52ef96267d",
                    "domain": "35fc9606818aa3ff175e3a57a6c40f3ec04f932a98b1e807c6292595eccf072b"},
            "test": {"x": "ee29a057ea2c90c633c912491ab3cee74cf416ef57979ae3b42786fba9ae258b",
                     "y": "7f5bb2fd5397d2d9dd779f4a5b82d46d38090d38ded23c7383b62a05c1b9104f",
                     "domain": "e4c4da413cb0c71bc1d28726ab27059651fa7288a16c2d3a2615f9830dff0638"},
        },
    ),
    "default": (  # the ibn-net full reproduction's data (5000 digits, six target styles)
        {},
        {"train": 4000, "val": 500, "test": 3000},
        {
            "train": {"x": "42db823030961d5c8cb4721245c20438dfc29e5079fcbf7e2b6f17d008dd4b41",
                      "y": "95265dcd77ae687ae10df2a0b05f9d7425c45766dc94f0ed7710bb228b754bbb",
                      "domain": "5f89bdb0fb62842b42d3d88cb0251886276e96adf72f91dcdab2475f071a43b6"},
            "val": {"x": "7ca3a88b427dcd370ef1353e551059e95a150f918890dbabba17bdb139668005",
                    "y": "59a2f6d8678733a231bbcda46572111cf6bd1939ae35444e9695c4d23dc4c959",
                    "domain": "a081bf95f47a9485d833dca33b3e55656f1a28a3c3037516d6456793a1abe0a2"},
            "test": {"x": "c81b8af5d12128c1e0c9d2324bcc9eb9155f668cf864fe78240506f72e4b35d6",
                     "y": "d2998aee871931220dc8ec36415c26ef487d77ba54551de19a4166a82969468e",
                     "domain": "90bb7e892cac4d85bfc87d43e6c8eda9f029cb0f84f9c52e99f08fc1c1424ac0"},
        },
    ),
}
# render() of the last 256 MNIST digits with rng [5, style index], as ibn-net's feature_divergence
# analyzer (render=True) draws them; sha256 of the float32 bytes, from the ibn-net implementation.
GOLDEN_RENDER = {
    "source": "15e58402b3c59942f8a19c7f004bc80103ead0adb17da4c3d6debcb127aa0078",
    "brightness": "778193c6775b11e05a57e0c84e22a518926a32d3353a90a6313960698c2f3b03",
    "red": "9fd586792a06f9a361bf9231f838f1eddb504329a6421f7c82bd537f8fc387cf",
    "contrast": "8e13d82d7ffa91dcd19f49dc0793d5c376b8b2f2101c5a9b29fb0dadaf972645",
    "texture": "ec5bcbe01a696669034aeb250251804c0c077f4764f907effcad117b18d4ad18",
    "color": "5c28957578ad81e0129a0d8743e9d9aeed600a34baef2f50c38406554492a956",
    "invert": "8421c73e3c7f46d50c14b248fd946e78ad3af45e4853eb74e76565284f53e23b",
}


def _digest(t: torch.Tensor) -> str:
    a = np.ascontiguousarray(t.numpy())
    h = hashlib.sha256(f"{a.dtype}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def small(make) -> object:
    return make("style_shift_digits", n_samples=300, test_source=True)


@pytest.mark.parametrize("case", list(GOLDEN))
def test_output_is_bit_identical_to_the_ibn_net_implementation(make, case: str) -> None:
    config, sizes, digests = GOLDEN[case]
    ds = make("style_shift_digits", **config)
    assert dict(ds.metadata.sizes) == sizes
    got = {split: {k: _digest(v) for k, v in ds.split(split).tensors.items()} for split in digests}
    assert got == digests


def test_render_is_bit_identical_to_the_ibn_net_implementation() -> None:
    from forwardkit_datasets.digits import load_mnist5k_arrays

    images, _ = load_mnist5k_arrays()
    alpha = digit_alpha(images[-256:])
    got = {s: hashlib.sha256(render(alpha, s, rng=np.random.default_rng([5, i])).tobytes()).hexdigest()
           for i, s in enumerate(STYLES)}
    assert got == GOLDEN_RENDER


def test_deterministic_under_the_seed_and_changed_by_it() -> None:
    cfg = {"n_samples": 100, "target_styles": ["texture", "color"]}
    a, b = (forwardkit.create("dataset", "style_shift_digits", **cfg) for _ in range(2))
    c = forwardkit.create("dataset", "style_shift_digits", seed=1, **cfg)
    for split in ("train", "val", "test"):
        ta, tb = a.split(split).tensors, b.split(split).tensors
        assert ta.keys() == tb.keys() == {"x", "y", "domain"}
        assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert not torch.equal(a.split("test").x, c.split("test").x)


def test_metadata(small) -> None:
    meta = small.metadata
    assert meta.task == "style_shift" and meta.input_shape == (28, 28, 3) and meta.num_classes == 10
    assert meta.class_names == [str(i) for i in range(10)]
    assert meta.extra["styles"] == list(STYLES) and meta.extra["textures"] == list(TEXTURES)
    assert meta.extra["train_style"] == meta.extra["val_style"] == "source"
    assert meta.extra["test_styles"] == ["source", *STYLES[1:]]
    # the task the metadata names is registered (here, in forwardkit-datasets) and names the domains alike
    task = forwardkit.create("task", meta.task)
    assert isinstance(task, StyleShift) and list(task.domain_names) == meta.extra["styles"]


def test_splits_source_for_train_val_targets_for_test(small) -> None:
    meta = small.metadata
    assert set(small.split("train").tensors["domain"].tolist()) == {0}
    assert set(small.split("val").tensors["domain"].tolist()) == {0}
    test = small.split("test")
    counts = torch.bincount(test.tensors["domain"], minlength=len(STYLES))
    n_test = int(counts[0])
    assert (counts == n_test).all() and 25 <= n_test <= 35  # every test digit once per style (+ source)
    assert meta.sizes["test"] == n_test * len(STYLES) and sum(meta.sizes.values()) == 300 + n_test * 6
    for split in ("train", "val", "test"):
        x = small.split(split).x
        assert x.dtype == torch.float32 and float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_styles_change_appearance_not_content(small) -> None:
    test = small.split("test")
    dom, x, y = test.tensors["domain"], test.x, test.y
    src = x[dom == 0]
    for d, style in enumerate(STYLES[1:], start=1):
        assert torch.equal(torch.sort(y[dom == d]).values, torch.sort(y[dom == 0]).values)
        assert not torch.allclose(x[dom == d].mean(), src.mean(), atol=1e-3) or style == "contrast"


def test_render_formulas() -> None:
    alpha = np.zeros((2, 28, 28, 1), np.float32)
    alpha[:, 10:18, 12:16] = 1.0
    src = render(alpha, "source", background=0.2)
    assert np.allclose(src[0, 0, 0], 0.2) and np.allclose(src[0, 12, 13], 1.0)
    assert np.allclose(render(alpha, "brightness", shift=0.1)[0, 0, 0], 0.3)
    red = render(alpha, "red", shift=0.1)
    assert np.allclose(red[0, 0, 0], [0.3, 0.2, 0.2])
    assert np.allclose(render(alpha, "invert")[0, 0, 0], 0.8)
    col = render(alpha, "color", rng=0)
    assert (col[:, 12, 13] >= 0.5).all() and (col[:, 0, 0] <= 0.4).all()
    tex = render(alpha, "texture", rng=0)
    assert np.allclose(tex[:, 12, 13], 1.0) and tex[:, :5, :5].std() > 0.01
    with pytest.raises(ValueError, match="unknown style"):
        render(alpha, "sepia")


def test_config_rejects_repeated_styles() -> None:
    with pytest.raises(ValueError, match="more than once"):
        StyleShiftDigitsConfig(target_styles=["texture", "texture"])
    with pytest.raises(ForwardkitError):
        forwardkit.create("dataset", "style_shift_digits", target_styles=["sepia"])


def test_task_reports_accuracy_per_domain() -> None:
    task = StyleShift()
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    batch = {"y": torch.tensor([0, 0, 0, 1]), "domain": torch.tensor([0, 0, 4, 4])}
    m = task.metrics(logits, batch)
    assert m["accuracy"] == (2.0, 4)
    assert m["accuracy_source"] == (1.0, 2) and m["accuracy_texture"] == (1.0, 2)
    assert "accuracy_invert" not in m
    assert "accuracy_source" not in task.metrics(logits, {"y": batch["y"]})


def test_task_names_domains_from_its_config() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    y, domain = torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2])
    m = forwardkit.create("task", "style_shift", domain_names=["photo", "sketch"]).metrics(
        logits, {"y": y, "domain": domain})
    assert m["accuracy_photo"] == (1.0, 1) and m["accuracy_sketch"] == (1.0, 1) and m["accuracy_domain2"] == (0.0, 1)
    assert per_domain_accuracy(logits, y, domain, ["a", "b", "c"])["accuracy_c"] == (0.0, 1)
    with pytest.raises(ForwardkitError):
        forwardkit.create("task", "style_shift", domain_names=["a", "a"])


def test_the_trainer_fills_domain_names_from_the_dataset_metadata():
    from forwardkit.engine.trainer import Trainer

    exp = {"data": {"name": "style_shift_digits", "n_samples": 200, "target_styles": ["texture", "invert"]},
           "model": {"name": "mlp", "hidden": [8]}, "trainer": {"max_steps": 1, "progress": "none"}}
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.build()
    assert list(trainer.task.config.domain_names) == list(trainer.dataset.metadata.extra["styles"])
    exp["trainer"]["task"] = {"name": "style_shift", "domain_names": ["a", "b"]}  # an explicit value wins
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.build()
    assert list(trainer.task.config.domain_names) == ["a", "b"]
