"""The U-Net, the causal gated linear recurrence and the next-token head (official sizes)."""

from __future__ import annotations

import pytest
import torch
from forwardkit_tokenunify.config import NextTokenHeadConfig
from forwardkit_tokenunify.head import NextTokenHead, attach_next_token_head
from forwardkit_tokenunify.recurrence import GatedLinearRecurrence, linear_recurrence
from forwardkit_tokenunify.unet import TokenUnifyUNet

import forwardkit
from forwardkit.errors import ConfigError


def test_recurrence_is_the_paper_style_loop_and_causal():
    torch.manual_seed(0)
    mixer = GatedLinearRecurrence(dim=6)
    x = torch.randn(2, 3, 4, 6, requires_grad=True)
    y = mixer(x)
    gate, value, out_gate = mixer.proj_in(x.reshape(2, 12, 6)).chunk(3, -1)
    a = torch.sigmoid(gate)
    h = torch.zeros(2, 6)
    rows = []
    for t in range(12):  # h_t = a_t h_{t-1} + (1 - a_t) v_t
        h = a[:, t] * h + (1 - a[:, t]) * value[:, t]
        rows.append(mixer.proj_out(h * torch.nn.functional.silu(out_gate[:, t])))
    assert torch.allclose(y.reshape(2, 12, 6), torch.stack(rows, 1), atol=1e-6)
    y.reshape(2, 12, 6)[:, 5].sum().backward()
    grad = x.grad.reshape(2, 12, 6).abs().sum(-1)
    assert (grad[:, 6:] == 0).all() and (grad[:, :6] > 0).all()
    assert torch.equal(linear_recurrence(torch.ones(1, 3, 1), torch.ones(1, 3, 1)).flatten(), torch.tensor([1., 2, 3]))


@pytest.mark.parametrize(("rank", "size"), [(2, (16, 16)), (3, (4, 8, 8))])
def test_unet_is_dense_in_2d_and_3d(rank, size):
    model = TokenUnifyUNet(rank=rank, input_size=size, widths=[4, 8, 16] if rank == 2 else [4, 8])
    x = model.example_batch(2)["x"]
    assert model(x).shape == (2, *size, 1)
    with pytest.raises(ValueError, match="divisible"):
        model(torch.rand(1, *[s + 1 for s in size], 1))


def test_unet_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="input_size"):
        forwardkit.create("model", "tokenunify_unet", input_size=[30, 30])
    with pytest.raises(ConfigError, match="bottleneck_mixer"):
        forwardkit.create("model", "tokenunify_unet", bottleneck_mixer={"name": "attention"})


def test_head_has_the_official_sizes():
    """(16, 160, 160) -> three stride-2 convs -> (2, 20, 20) = 800 -> Linear -> 1024 = 4 x 16 x 16."""
    head = NextTokenHead(NextTokenHeadConfig(patch=(4, 16, 16), input_size=(16, 160, 160)))
    assert head.linear.in_features == 800 and head.linear.out_features == 1024
    assert [m.out_channels for m in head.convs if hasattr(m, "out_channels")] == [12, 12, 1]
    small = NextTokenHead(NextTokenHeadConfig(patch=(4, 4), input_size=(32, 32)))
    out = small(torch.randn(3, 32, 32, 1)).detach()
    assert out.shape == (3, 4, 4, 1) and 0 < float(out.min()) and float(out.max()) < 1


def test_attaching_the_head_reads_the_model_and_keeps_the_forward():
    model = TokenUnifyUNet(widths=[4, 8], input_size=(8, 8), bottleneck_mixer=None)
    x = model.example_batch(1)["x"]
    before = model.eval()(x)
    head = attach_next_token_head(model, patch=(4, 4))
    assert model.next_token_head is head and head.config.input_size == (8, 8)
    assert attach_next_token_head(model) is head
    assert torch.equal(model(x), before)
    adapted = forwardkit.create("adapter", "next_token_head", patch=[2, 2]).apply(
        TokenUnifyUNet(widths=[4, 8], input_size=(8, 8), bottleneck_mixer=None))
    assert adapted.next_token_head.linear.out_features == 4
