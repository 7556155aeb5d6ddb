"""Per-token MLPs: the Transformer feed-forward network and MetaFormer's MLP classification head."""

from __future__ import annotations

from torch import Tensor, nn

from forwardkit.nn.activations import ActivationArg, make_activation
from forwardkit.nn.projections import Pointwise

__all__ = ["FeedForward", "MlpHead", "hidden_width"]


def hidden_width(dim: int, *, hidden_dim: int | None = None, mlp_ratio: float = 4.0) -> int:
    """The hidden width of a feed-forward network: ``hidden_dim`` if given, else ``max(round(mlp_ratio * dim), 1)``."""
    return hidden_dim or max(round(mlp_ratio * dim), 1)


class FeedForward(nn.Module):
    """The position-wise feed-forward network (Vaswani et al. 2017, eq. 2 "FFN", with any activation) on
    each token of ``(B, *spatial, dim)``::

        y = drop2(fc2(drop1(act(fc1(x)))))

    ``fc1``: Linear(dim, hidden), ``fc2``: Linear(hidden, out_dim or dim), with ``hidden`` from
    :func:`hidden_width`, both :class:`~forwardkit.nn.Pointwise` (``nn.Linear`` layers whose kernel is chosen
    by the token count, see :func:`~forwardkit.nn.pointwise`); ``act`` is a :func:`~forwardkit.nn.make_activation`
    name or factory. Output ``(B, *spatial, out_dim or dim)``.

    A class that must call another base's ``__init__`` (the builtin ``mlp`` channel mixer) builds the
    same layers with :meth:`_init_layers` and reuses :meth:`forward`.
    """

    def __init__(
        self,
        *,
        dim: int,
        hidden_dim: int | None = None,
        mlp_ratio: float = 4.0,
        out_dim: int | None = None,
        act: ActivationArg = "gelu",
        bias: bool = True,
        drop: float = 0.0,
    ) -> None:
        super().__init__()
        self._init_layers(dim=dim, hidden_dim=hidden_dim, mlp_ratio=mlp_ratio, out_dim=out_dim, act=act, bias=bias,
                          drop=drop)

    def _init_layers(
        self,
        *,
        dim: int,
        hidden_dim: int | None = None,
        mlp_ratio: float = 4.0,
        out_dim: int | None = None,
        act: ActivationArg = "gelu",
        bias: bool = True,
        drop: float = 0.0,
    ) -> None:
        hidden = hidden_width(dim, hidden_dim=hidden_dim, mlp_ratio=mlp_ratio)
        self.fc1 = Pointwise(dim, hidden, bias=bias)
        self.act = make_activation(act)
        self.drop1 = nn.Dropout(drop)
        self.fc2 = Pointwise(hidden, out_dim or dim, bias=bias)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class MlpHead(nn.Module):
    """MetaFormer baselines' MLP head (Yu et al. 2023, sec. 3.3) on pooled features ``(B, dim)``:
    Linear(dim, mlp_ratio*dim) -> act (SquaredReLU) -> LayerNorm -> Dropout -> Linear(mlp_ratio*dim,
    num_classes), giving ``(B, num_classes)``."""

    def __init__(
        self,
        *,
        dim: int,
        num_classes: int,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        act: ActivationArg = "squaredrelu",
    ) -> None:
        super().__init__()
        hidden = mlp_ratio * dim
        self.fc1 = nn.Linear(dim, hidden)
        self.act = make_activation(act)
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.drop(self.norm(self.act(self.fc1(x)))))
