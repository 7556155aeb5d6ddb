"""Parity with the reference the official code builds on, scikit-learn's ``MLPRegressor`` (the stage learner of
``gbnn/GBNN.py``): the same forward and objective under copied weights, the same fit from the same start, and
the merge of scikit-learn-fitted stages equal to their staged sum as scikit-learn predicts it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from forwardkit_gradient_boosting_nn import losses as L
from forwardkit_gradient_boosting_nn.model import BoostedMLP
from forwardkit_gradient_boosting_nn.stage import StageNet, fit_stage, stage_objective

sklearn_nn = pytest.importorskip("sklearn.neural_network")


def _regressor(units: int, max_iter: int) -> object:
    return sklearn_nn.MLPRegressor(hidden_layer_sizes=(units,), activation="logistic", solver="lbfgs", alpha=1e-4,
                                   max_iter=max_iter, tol=0.0, random_state=0, warm_start=True)


def _copy_from(rr: object, net: StageNet) -> StageNet:
    with torch.no_grad():
        net.hidden.weight.copy_(torch.from_numpy(rr.coefs_[0].T))  # type: ignore[attr-defined]
        net.hidden.bias.copy_(torch.from_numpy(rr.intercepts_[0]))  # type: ignore[attr-defined]
        net.out.weight.copy_(torch.from_numpy(np.atleast_2d(rr.coefs_[1].T)))  # type: ignore[attr-defined]
        net.out.bias.copy_(torch.from_numpy(np.atleast_1d(rr.intercepts_[1])))  # type: ignore[attr-defined]
    return net


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(60, 5, generator=g, dtype=torch.float64)
    return x, torch.sin(x[:, :3]) + 0.5 * torch.randn(60, 3, generator=g, dtype=torch.float64)


def test_forward_and_objective_equal_sklearns_under_copied_weights() -> None:
    x, r = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rr = _regressor(3, 30).fit(x.numpy(), r.numpy())
    net = _copy_from(rr, StageNet(5, 3, 3).double())
    with torch.no_grad():
        assert np.abs(net(x).numpy() - rr.predict(x.numpy())).max() < 1e-12
        # 1/2 mean squared error + alpha/2 ||weights||^2 / n, at the weights the fit ended on
        assert float(stage_objective(net, x, r, 1e-4)) == pytest.approx(rr.loss_, rel=1e-12)


def test_torch_lbfgs_fits_a_stage_as_sklearns_lbfgs_from_the_same_start() -> None:
    x, r = _data(1)
    net = StageNet(5, 3, 3).double().init_(torch.Generator().manual_seed(1))
    rr = _regressor(3, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rr.fit(x.numpy(), r.numpy())  # builds the network; then start it from net's weights (warm start)
        weight, bias, v, d = (p.detach().numpy().copy() for p in net.tensors())
        rr.coefs_, rr.intercepts_ = [weight.T.copy(), v.T.copy()], [bias.copy(), d.copy()]
        rr.max_iter = 100
        rr.fit(x.numpy(), r.numpy())
    ours = fit_stage(net, x, r, max_iter=100, l2=1e-4)
    assert ours == pytest.approx(rr.loss_, rel=1e-2)  # the two L-BFGS line searches differ; the optimum agrees


@pytest.mark.parametrize("loss", ["binary_logexp", "softmax_ce"])
def test_merged_sklearn_stages_equal_their_staged_prediction(loss: str) -> None:
    """The official loop with scikit-learn stage learners; the merge (to_NN) of the fitted stages equals
    F_0 + sum_t rho_t rr_t.predict(X), with the factor 2 inside the binary probabilities."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(80, 4, generator=g, dtype=torch.float64)
    k = 2 if loss == "binary_logexp" else 3
    y = (x[:, :k] + 0.3 * torch.randn(80, k, generator=g, dtype=torch.float64)).argmax(1)
    Y = L.encode_targets(loss, y, k).double()
    F = L.initial_constant(loss, Y).expand(80, -1).clone()
    f0, nets, rhos = F[0].clone(), [], []
    for _ in range(3):
        r = L.pseudo_residuals(loss, Y, F)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rr = _regressor(2, 40).fit(x.numpy(), r.numpy().squeeze(1) if r.shape[1] == 1 else r.numpy())
        f = torch.from_numpy(rr.predict(x.numpy())).reshape(80, -1)
        rho = 0.5 * L.newton_step(loss, Y, r, f)
        F = F + rho * f
        nets.append(_copy_from(rr, StageNet(4, 2, Y.shape[1])).float())
        rhos.append(rho)
    merged = BoostedMLP.from_stages(nets, rhos, f0.float(), embedding=L.embedding(loss, k))
    with torch.no_grad():
        out = merged(x.float()).double()
    if loss == "binary_logexp":
        assert (torch.softmax(out, 1)[:, 1:] - torch.sigmoid(2 * F)).abs().max() < 1e-5
        assert (out[:, 1:] - 2 * F).abs().max() < 1e-4
    else:
        assert (out - F).abs().max() < 1e-5
