"""``simulated_optical``: a software stand-in for an optical physical layer (multimode fibre, scattering medium).

A real input ``x`` (the encoded block input, ``(B, D)``) modulates the incoming field, a fixed complex
transmission matrix ``A`` (``M x D``, entries CN(0, 1/D), drawn once from ``seed``) scatters it, and the
camera detects (card "Components", the optics code's ``|T x|``):

* ``amplitude``: ``y = |A x|``
* ``intensity``: ``y = |A x|^2``
* ``saturable``: ``y = I / (1 + I / I_sat)`` with ``I = |A x|^2`` (a saturable absorber in front of the camera)

plus optional detection noise ``y + noise_std * mean_j(y_j) * eps``, ``eps ~ N(0, 1)``. Since ``x`` is real,
``A x = A_re x + i A_im x``: two real matmuls (:func:`optical_response`), equal to the complex product of
the paper-literal :func:`optical_response_reference` (tested). The noise of call ``n`` is drawn from
``(seed, n)`` with ``n`` a buffer, so a resumed run measures the same noise as an uninterrupted one.

``drift_(strength, generator)`` is the unpredictable perturbation of the card's drift test:
``A <- A + strength * A_fresh`` with ``A_fresh`` drawn like ``A``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from forwardkit.interfaces import Model
from forwardkit_model_free_ff.config import SimulatedOpticalConfig


def transmission_matrix(out_dim: int, in_dim: int, generator: torch.Generator) -> Tensor:
    """A complex Gaussian ``M x D`` matrix with entries CN(0, 1/D), as real and imaginary parts ``(2, M, D)``."""
    return torch.randn(2, out_dim, in_dim, generator=generator) / (2.0 * in_dim) ** 0.5


def detect(field_re: Tensor, field_im: Tensor, kind: str, i_sat: float = 1.0) -> Tensor:
    """Camera reading of a field ``(B, M)`` given as real and imaginary parts: amplitude, intensity or saturable."""
    intensity = field_re.square() + field_im.square()
    if kind == "intensity":
        return intensity
    if kind == "saturable":
        return intensity / (1.0 + intensity / i_sat)
    return intensity.sqrt()


def optical_response(x: Tensor, weight: Tensor, kind: str = "amplitude", i_sat: float = 1.0) -> Tensor:
    """``detect(A x)`` for real ``x`` ``(B, D)`` and ``A = weight[0] + i weight[1]`` ``(2, M, D)``: ``(B, M)``."""
    return detect(x @ weight[0].T, x @ weight[1].T, kind, i_sat)


def optical_response_reference(x: Tensor, weight: Tensor, kind: str = "amplitude", i_sat: float = 1.0) -> Tensor:
    """Paper-literal form: the complex matrix product ``A @ x`` then ``|.|`` (``|.|^2``, saturable); ``(B, M)``."""
    a = torch.complex(weight[0], weight[1])
    field = x.to(a.dtype) @ a.T
    if kind == "amplitude":
        return field.abs()
    intensity = field.abs().square()
    return intensity if kind == "intensity" else intensity / (1.0 + intensity / i_sat)


def optical_response_numpy(x: np.ndarray, weight: np.ndarray, kind: str = "amplitude", i_sat: float = 1.0,
                           ) -> np.ndarray:
    """The same measurement in numpy (no autograd exists here at all): ``x`` ``(B, D)`` -> ``(B, M)``."""
    a = weight[0] + 1j * weight[1]
    field = x.astype(np.complex128) @ a.T.astype(np.complex128)
    intensity = np.abs(field) ** 2
    if kind == "amplitude":
        out = np.abs(field)
    elif kind == "intensity":
        out = intensity
    else:
        out = intensity / (1.0 + intensity / i_sat)
    return out.astype(x.dtype)


class SimulatedOpticalLayer(Model):
    """``(B, D) -> (B, M)``: the detected output of a fixed random complex transmission matrix (see module doc).

    It has no trainable parameters (``A`` is a buffer); a model holding it wraps it in a ``physical_layer``.
    """

    Config = SimulatedOpticalConfig
    config: SimulatedOpticalConfig
    weight: Tensor
    calls: Tensor
    expected_failures: ClassVar[dict[str, str]] = {
        "check_gradients": "a physical system has no trainable parameters: its transmission matrix is fixed (the "
        "digital layers around it are what trains)",
    }

    def __init__(self, config: SimulatedOpticalConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        gen = torch.Generator().manual_seed(self.seed)
        self.register_buffer("weight", transmission_matrix(cfg.out_dim, cfg.in_features, gen))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    @property
    def seed(self) -> int:
        """The seed in use (0 when the config leaves it to the holder and there is none)."""
        return 0 if self.config.seed is None else self.config.seed

    @property
    def out_features(self) -> int:
        return self.config.out_dim

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, D)`` (any ``(B, ...)`` is flattened) -> detected ``(B, M)``."""
        cfg = self.config
        x = x.reshape(x.shape[0], -1)
        y = optical_response(x, self.weight.to(x.dtype), cfg.kind, cfg.i_sat)
        if cfg.noise_std > 0.0:
            with torch.no_grad():
                gen = torch.Generator(device=x.device).manual_seed(self.seed * 1_000_003 + int(self.calls) + 1)
                eps = torch.randn(y.shape, generator=gen, device=x.device, dtype=y.dtype)
                self.calls += 1
            y = y + cfg.noise_std * y.detach().mean(dim=-1, keepdim=True) * eps
        return y

    @torch.no_grad()
    def drift_(self, strength: float, generator: torch.Generator) -> None:
        """``A <- A + strength * A_fresh`` in place, ``A_fresh`` drawn from ``generator`` like ``A``."""
        fresh = transmission_matrix(self.config.out_dim, self.config.in_features, generator)
        self.weight.add_(strength * fresh.to(self.weight))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {"x": torch.rand(batch_size, self.config.in_features, generator=generator)}
