"""The proxy A-distance (PAD = 2 (1 - 2 err)) and the Fig. 4a network (768 features, mean subtraction)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forwardkit_dann.head import small_dann_net
from forwardkit_dann.pad import domain_features, proxy_a_distance

import forwardkit
from forwardkit.errors import ForwardkitError


def test_pad_is_two_for_separable_domains_and_near_zero_for_one_distribution():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 10)), rng.normal(size=(400, 10))
    far = proxy_a_distance(a, b + 5.0)
    assert far["error"] == 0.0 and far["pad"] == 2.0
    same = proxy_a_distance(a, b)
    assert abs(same["pad"]) < 0.3 and same["pad"] == pytest.approx(2 * (1 - 2 * same["error"]))
    assert same["n_train"] == 400 and same["n_test"] == 400 and same["dim"] == 10
    half = proxy_a_distance(a, b + np.r_[1.0, np.zeros(9)], classifier="logistic", c_values=[1.0])
    assert 0.3 < half["pad"] < 1.7 and half["c"] == 1.0  # a partial shift lands in between


def test_pad_takes_the_lowest_held_out_error_over_c_as_the_paper_or_a_cross_validated_c():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 20)), rng.normal(size=(300, 20)) + np.r_[0.6, np.zeros(19)]
    cs = [1e-4, 1e-3, 1e-2, 1.0]
    each = [proxy_a_distance(a, b, c_values=[c])["error"] for c in cs]
    lowest = proxy_a_distance(a, b, c_values=cs)
    assert lowest["error"] == min(each) and lowest["c"] == cs[int(np.argmin(each))]  # sec. 5.1.5, step 5
    cv = proxy_a_distance(a, b, c_values=cs, selection="cross_validation")
    assert cv["error"] >= lowest["error"] and cv["error"] in each
    with pytest.raises(ForwardkitError, match="selection"):
        proxy_a_distance(a, b, selection="best")


def test_pad_balances_the_domains_and_caps_the_samples():
    rng = np.random.default_rng(1)
    r = proxy_a_distance(rng.normal(size=(300, 4)), rng.normal(size=(50, 4)) + 3, max_per_domain=40)
    assert r["n_train"] + r["n_test"] == 80
    with pytest.raises(ForwardkitError, match="at least 2"):
        proxy_a_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_the_analyzer_reads_both_domains_from_domain_or_target_rows():
    torch.manual_seed(0)
    net = small_dann_net()
    g = torch.Generator().manual_seed(0)
    src, tgt = torch.rand(20, 16, 16, 3, generator=g), 1.0 - torch.rand(20, 16, 16, 3, generator=g) * 0.2
    by_domain = [{"x": torch.cat([src, tgt]), "y": torch.zeros(40, dtype=torch.long),
                  "domain": torch.cat([torch.zeros(20), torch.ones(20)]).long()}]
    by_rows = [{"x": src, "y": torch.zeros(20, dtype=torch.long), "target_x": tgt}]
    fs, ft = domain_features(net, by_domain, tap="features")
    fs2, ft2 = domain_features(net, by_rows, tap="features")
    assert fs.shape == (20, 8) and np.allclose(fs, fs2, atol=1e-6) and np.allclose(ft, ft2, atol=1e-6)
    analysis = forwardkit.create("analyzer", "proxy_a_distance").analyze(net, by_domain)
    assert analysis.numbers["pad"] == pytest.approx(2 * (1 - 2 * analysis.numbers["error"]))
    assert analysis.numbers["pad"] > 1.0  # bright and dark images are easy to tell apart
    with pytest.raises(ForwardkitError, match="domains are unknown"):
        domain_features(net, [{"x": src, "y": torch.zeros(20)}], tap="features")


def test_the_mnist_network_is_fig_4a_and_subtracts_the_data_mean():
    ds = forwardkit.create("dataset", "mnistm_digits", n_source_train=20, n_source_val=4, n_source_test=4,
                           n_target_train=20, n_target_test=4)
    from forwardkit_dann.model import DannMnistCnn

    fields = DannMnistCnn.fields_from_metadata(ds.metadata)
    assert fields["image_size"] == 28 and fields["in_channels"] == 3 and fields["num_classes"] == 10
    assert fields["input_mean"] == ds.metadata.extra["pixel_mean"]
    model = DannMnistCnn(**fields)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (48, (5, 5))]
    assert model.feature_dim == 768
    assert [m.out_features for m in model.classifier if isinstance(m, torch.nn.Linear)] == [100, 100, 10]
    x = torch.rand(2, 28, 28, 3)
    plain = DannMnistCnn(**{**fields, "input_mean": None})
    plain.load_state_dict(model.state_dict())
    mean = torch.tensor(fields["input_mean"])
    torch.testing.assert_close(model(x), plain(x - mean))
    with pytest.raises(ValueError, match="too small"):
        DannMnistCnn(image_size=8)
