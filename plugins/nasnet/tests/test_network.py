"""The NASNet network: the paper's sizes (parameter counts, penultimate widths, mult-adds), the skeleton's wiring,
the auxiliary head and its loss. The large presets are built on the meta device (shapes only, no memory)."""

from __future__ import annotations

import pytest
import torch
from forwardkit_nasnet.aux_loss import NasNetAuxLoss, aux_loss
from forwardkit_nasnet.network import SMALL_NASNET, NasNetNetwork, reduction_layers

import forwardkit
from forwardkit.measure import count_macs, count_parameters


def _meta(**config) -> NasNetNetwork:
    with torch.device("meta"):
        return NasNetNetwork(**config)


def test_cifar_6_at_768_has_the_papers_size():
    model = _meta(preset="cifar_6_768")
    assert model.penultimate_filters == 768 and model.name_n_at_p == "6 @ 768"
    total = count_parameters(model)
    assert model.aux is not None
    aux = count_parameters(model.aux)
    # paper Table 1: 3.3M; the count without the auxiliary head (used in training only) matches it
    assert total - aux == pytest.approx(3.3e6, rel=0.03)
    assert total == pytest.approx(4.98e6, rel=0.01)  # with the aux head: 3.35M + 1.63M (its 4x4 conv to 768)
    assert model.reduction_indices == [6, 12] and model.total_cells == 20


def test_mobile_4_at_1056_has_the_papers_size_and_mult_adds():
    model = _meta(preset="mobile_4_1056")
    assert model.name_n_at_p == "4 @ 1056" and model.total_cells == 16
    params = count_parameters(model)
    assert params == pytest.approx(5.3e6, rel=0.01)
    assert params == 5_289_978  # the trainable parameters of the Keras NASNetMobile port (1000 classes)
    model.eval()
    macs = count_macs(lambda: model(torch.empty(1, 224, 224, 3, device="meta")))
    assert macs == pytest.approx(564e6, rel=0.01)  # paper Table 2: 564M mult-adds


def test_large_6_at_4032_has_the_papers_size():
    model = _meta(preset="large_6_4032")
    assert model.name_n_at_p == "6 @ 4032"
    assert count_parameters(model) == pytest.approx(88.9e6, rel=0.01)  # paper Table 2: 88.9M


def test_reduction_layers_and_filter_doubling():
    assert reduction_layers(18, 2) == [6, 12] and reduction_layers(12, 2) == [4, 8] and reduction_layers(6, 2) == [2, 4]
    model = NasNetNetwork(num_cells=6, filters=8, in_channels=1, image_size=[28, 28])
    kinds = [(c.genotype.reduction, c.filters) for c in model.nasnet_cells()]
    assert kinds == [(False, 8)] * 2 + [(True, 16)] + [(False, 16)] * 2 + [(True, 32)] + [(False, 32)] * 2
    assert model.penultimate_filters == 6 * 32 and model.stem[0].out_channels == 24  # the card's 24-channel stem
    # each cell takes the last output and the one before; after a reduction h_{i-1} is the larger-resolution one
    assert model.wiring[0] == (1, -1) and model.wiring[3] == (4, 3)
    assert model(torch.randn(2, 28, 28, 1)).shape == (2, 10)


def test_input_pool_halves_the_maps():
    model = NasNetNetwork(**{k: v for k, v in SMALL_NASNET.items() if k != "name"} | {"image_size": [16, 16],
                                                                                      "input_pool": 2})
    model.eval()
    feats = model.features(torch.randn(1, 16, 16, 1))
    assert feats.shape[-2:] == (2, 2)
    with pytest.raises(ValueError, match="input_pool"):
        NasNetNetwork(image_size=[4, 4], input_pool=8)


def test_random_genotype_networks_differ_and_are_seeded():
    a = NasNetNetwork(genotype="random", genotype_seed=2, num_cells=3, filters=4, in_channels=1, image_size=[8, 8])
    b = NasNetNetwork(genotype="random", genotype_seed=2, num_cells=3, filters=4, in_channels=1, image_size=[8, 8])
    c = NasNetNetwork(genotype="random", genotype_seed=3, num_cells=3, filters=4, in_channels=1, image_size=[8, 8])
    assert a.genotypes == b.genotypes != c.genotypes
    assert a(torch.randn(2, 8, 8, 1)).shape == (2, 10)


def test_aux_head_trains_through_its_adapter_loss():
    torch.manual_seed(0)
    spec = {**SMALL_NASNET, "aux_head": True, "image_size": [16, 16], "aux_weight": 0.4}
    model = forwardkit.build_model(spec)
    x, y = torch.randn(4, 16, 16, 1), torch.randint(0, 10, (4,))
    model.train()
    model(x)
    assert model.aux_logits is not None and model.aux_logits.shape == (4, 10)
    loss = NasNetAuxLoss().loss(model, {"x": x, "y": y}, None)
    assert loss is not None
    assert torch.allclose(loss, 0.4 * torch.nn.functional.cross_entropy(model.aux_logits, y))
    loss.backward()
    assert model.aux.fc.weight.grad is not None and model.aux.fc.weight.grad.abs().sum() > 0
    model.eval()
    model(x)
    assert model.aux_logits is None and aux_loss(model, y) is None
    with pytest.raises(ValueError, match="aux_head"):
        NasNetAuxLoss().apply(forwardkit.build_model(SMALL_NASNET))
