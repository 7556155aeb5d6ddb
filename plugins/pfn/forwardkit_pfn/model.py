"""The PFN transformer (paper sec. 4 and Fig. 2; official ``transformer.py``, TransformerModel in its
permutation-invariant "single_eval_pos" mode).

Input: a batch of datasets, x ``(B, T, d)``, y ``(B, T)``, and for each dataset its number of training points s
(``eval_pos``, an int for the whole batch as the official code, or ``(B,)``). Tokens, with NO positional encoding:

    h_t = Enc_x(x_t) + Enc_y(y_t)   for t < s (training points),      h_t = Enc_x(x_t)   for t >= s (queries)

(Enc_x: Linear(d, D), Enc_y: Linear(1, D); the query ys are never read). Then ``n_layers`` transformer encoder
layers (post-LN by default, GELU, the train/query mask of :mod:`forwardkit_pfn.mask`), and a decoder MLP Linear(D,
d_ff) -> GELU -> Linear(d_ff, M) gives M logits of the bar distribution per token. Output ``(B, T, M)`` for every
token (the official code returns only the queries' ``output[s:]``; here the task reads the queries).

Init (official init_weights): in every layer the attention output projection and the FFN's second linear are zero
(weights and biases), so every residual branch outputs exactly 0 at initialisation; the fused qkv projection is
Xavier-uniform with zero bias, as torch's MultiheadAttention.

Attention. ``attention='masked'`` (default, the paper-literal form) runs full (T, T) attention with the mask;
``'split'`` computes the same outputs in O(s^2 + q s): the training tokens attend among themselves, each query to the
training keys plus its own key (:func:`split_attention`); tests check the two agree. The split needs one s for the
whole batch (the training rule's single eval position); a batch with per-dataset s (e.g. the test split, whose items
carry their own eval_pos) falls back to the masked form, which gives the same outputs.

The model holds its bar distribution (``bar``, the borders a buffer), as the official train.py attaches the
criterion to the model (``model.criterion = criterion``): the prior_fitting_rule copies the run's
``bar_distribution`` task into it at setup, so a trained model (and its checkpoint) predicts distributions alone:
:meth:`PFNTransformer.predict` -> logits, ``model.bar.mean(logits)``, ``.quantile``, ``.nll``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Model
from forwardkit.nn import FeedForward, MultiHeadAttention, merge_heads, project_qkv, scaled_dot_product_attention
from forwardkit_pfn.bar import BarDistribution, uniform_borders
from forwardkit_pfn.config import PFNTransformerConfig
from forwardkit_pfn.mask import pfn_attention_mask

__all__ = ["PFNEncoderLayer", "PFNTransformer", "split_attention"]


def split_attention(attn: MultiHeadAttention, h: Tensor, s: int, *, query_self_attention: bool = True) -> Tensor:
    """The masked attention of ``attn`` on tokens ``h`` ``(B, T, D)`` with ``s`` training tokens, computed in
    O(s^2 + q s): training rows ``softmax(q_tr k_tr^T / sqrt(d)) v_tr``; query row j over the keys (k_tr, k_j):
    ``softmax([q_j k_tr^T, q_j . k_j] / sqrt(d)) [v_tr; v_j]`` (without self-attention, the training keys only,
    and the own key alone when s = 0). Returns ``(B, T, D)`` after the output projection."""
    q, k, v = project_qkv(h, attn.qkv.weight, attn.qkv.bias, num_heads=attn.num_heads)  # (B, H, T, d)
    scale = q.shape[-1] ** -0.5
    drop = attn.attn_drop if attn.training else 0.0
    parts = []
    if s > 0:
        parts.append(scaled_dot_product_attention(q[:, :, :s], k[:, :, :s], v[:, :, :s], dropout_p=drop))
    if s < h.shape[1]:
        qq, kq, vq = q[:, :, s:], k[:, :, s:], v[:, :, s:]
        self_score = (qq * kq).sum(-1, keepdim=True) * scale  # (B, H, Q, 1)
        if s == 0:
            out_q = vq  # the own key alone: weight 1
        else:
            train_score = torch.matmul(qq, k[:, :, :s].transpose(-2, -1)) * scale  # (B, H, Q, s)
            scores = torch.cat([train_score, self_score], -1) if query_self_attention else train_score
            weights = scores.softmax(-1)
            if drop > 0:
                weights = F.dropout(weights, p=drop)
            out_q = torch.matmul(weights[..., :s], v[:, :, :s])
            if query_self_attention:
                out_q = out_q + weights[..., s:] * vq
        parts.append(out_q)
    out = merge_heads(torch.cat(parts, 2))
    return attn.proj_drop(attn.proj(out))


class PFNEncoderLayer(nn.Module):
    """One encoder layer on ``(B, T, D)``: post-LN ``h = LN1(h + Attn(h)); h = LN2(h + FFN(h))`` (torch's
    TransformerEncoderLayer, norm_first=False) or pre-LN ``h = h + Attn(LN1(h)); h = h + FFN(LN2(h))``."""

    def __init__(self, *, d_model: int, n_heads: int, d_ff: int, dropout: float, norm_first: bool, eps: float,
                 query_self_attention: bool) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(dim=d_model, num_heads=n_heads, head_dim=d_model // n_heads, qkv_bias=True,
                                       proj_bias=True, attn_drop=dropout, proj_drop=dropout)
        self.ffn = FeedForward(dim=d_model, hidden_dim=d_ff, act="gelu", drop=dropout)
        self.norm1 = nn.LayerNorm(d_model, eps=eps)
        self.norm2 = nn.LayerNorm(d_model, eps=eps)
        self.norm_first = norm_first
        self.query_self_attention = query_self_attention

    def attention_branch(self, h: Tensor, mask: Tensor | None, s: int | None) -> Tensor:
        """The attention residual branch (before the sum): masked, or split when ``s`` is given."""
        if s is not None:
            return split_attention(self.attn, h, s, query_self_attention=self.query_self_attention)
        return self.attn(h, mask)

    def forward(self, h: Tensor, mask: Tensor | None = None, *, split_at: int | None = None) -> Tensor:
        """``h`` ``(B, T, D)``; ``mask`` bool broadcasting to ``(B, heads, T, T)``, or ``split_at = s``."""
        if self.norm_first:
            h = h + self.attention_branch(self.norm1(h), mask, split_at)
            return h + self.ffn(self.norm2(h))
        h = self.norm1(h + self.attention_branch(h, mask, split_at))
        return self.norm2(h + self.ffn(h))


class PFNTransformer(Model):
    """``pfn_transformer``: datasets ``x`` ``(B, T, d)``, ``y`` ``(B, T)``, ``eval_pos`` -> bar logits
    ``(B, T, M)`` (see the module docstring)."""

    Config = PFNTransformerConfig
    config: PFNTransformerConfig
    #: small sizes, so the kit's runs (export included) stay fast; the other modes are tested in tests/
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"d_model": 32, "n_heads": 4, "n_layers": 2, "d_ff": 32, "num_buckets": 20},
    )
    gradient_exempt: ClassVar[dict[str, str]] = {
        "layers.*.attn.qkv.*": "official zero init: the attention output projection starts at exactly 0, so the "
        "q/k/v projections get an exactly zero gradient until it has moved (one step)",
        "layers.*.ffn.fc1.*": "official zero init: the FFN's second linear starts at exactly 0, so the first gets an "
        "exactly zero gradient until it has moved (one step)",
    }

    def __init__(self, config: PFNTransformerConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        self.encoder = nn.Linear(c.num_features, c.d_model)
        self.y_encoder = nn.Linear(1, c.d_model)
        self.layers = nn.ModuleList(
            PFNEncoderLayer(d_model=c.d_model, n_heads=c.n_heads, d_ff=c.d_ff, dropout=c.dropout,
                            norm_first=c.norm_first, eps=c.layer_norm_eps,
                            query_self_attention=c.query_self_attention)
            for _ in range(c.n_layers)
        )
        self.decoder = nn.Sequential(nn.Linear(c.d_model, c.d_ff), nn.GELU(), nn.Linear(c.d_ff, c.num_buckets))
        self.bar = BarDistribution(uniform_borders(c.num_buckets, *c.y_range), full_support=True)
        self.init_weights()

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        shape = tuple(metadata.input_shape)
        return {"num_features": int(shape[-1])} if shape else {}

    def init_weights(self) -> None:
        """torch's MultiheadAttention init for q/k/v (Xavier-uniform, zero bias), then the official zero init of
        every layer's attention output projection and FFN output (weights and biases)."""
        for layer in self.layers:
            assert isinstance(layer, PFNEncoderLayer)
            nn.init.xavier_uniform_(layer.attn.qkv.weight)
            nn.init.zeros_(layer.attn.qkv.bias)
            nn.init.zeros_(layer.attn.proj.bias)
            if self.config.zero_init:
                for lin in (layer.attn.proj, layer.ffn.fc2):
                    nn.init.zeros_(lin.weight)
                    nn.init.zeros_(lin.bias)

    def attach_bar(self, bar: BarDistribution) -> None:
        """Use ``bar``'s borders and tails for this model's predictions (the official ``model.criterion = ...``)."""
        if bar.num_buckets != self.config.num_buckets:
            raise ForwardkitError(f"pfn_transformer.num_buckets is {self.config.num_buckets} but the bar distribution "
                                  f"has {bar.num_buckets} buckets: set model.num_buckets to {bar.num_buckets}")
        self.bar.set_borders(bar.borders, full_support=bar.full_support)

    # ---- the forward pass ---------------------------------------------------------------------------------------
    def _eval_pos(self, eval_pos: int | Tensor | None, batch: int, seq_len: int, device: torch.device) -> Tensor:
        if eval_pos is None:
            raise ForwardkitError("pfn_transformer needs eval_pos, the number of training points of each dataset "
                                  "(the first eval_pos points are training points, the rest queries)")
        s = torch.as_tensor(eval_pos, device=device).long()
        if s.dim() == 0:
            s = s.expand(batch)
        if s.shape != (batch,):
            raise ForwardkitError(f"eval_pos must be an int or a tensor ({batch},), got shape {tuple(s.shape)}")
        return s

    def embed(self, x: Tensor, y: Tensor | None, s: Tensor) -> Tensor:
        """Tokens ``(B, T, D)``: Enc_x(x) + Enc_y(y) for t < s, Enc_x(x) for the queries (their y is not read)."""
        train = torch.arange(x.shape[1], device=x.device).view(1, -1) < s.view(-1, 1)  # (B, T)
        h = self.encoder(x)
        if y is not None:
            y_in = torch.where(train, y.to(h.dtype), torch.zeros((), dtype=h.dtype, device=h.device))
            h = h + self.y_encoder(y_in.unsqueeze(-1)) * train.unsqueeze(-1).to(h.dtype)
        return h

    def hidden_states(self, x: Tensor, y: Tensor | None, eval_pos: int | Tensor | None) -> list[Tensor]:
        """The tokens after the embedding and after every layer: ``n_layers + 1`` tensors ``(B, T, D)``."""
        if x.dim() != 3 or x.shape[-1] != self.config.num_features:
            raise ForwardkitError(f"pfn_transformer expects x of shape (B, T, {self.config.num_features}), got "
                                  f"{tuple(x.shape)}")
        if y is not None and y.shape != x.shape[:2]:
            raise ForwardkitError(f"y must have shape {tuple(x.shape[:2])} (B, T), got {tuple(y.shape)}")
        batch, seq_len = x.shape[:2]
        s = self._eval_pos(eval_pos, batch, seq_len, x.device)
        h = self.embed(x, y, s)
        states = [h]
        if self.config.attention == "split" and (torch.jit.is_tracing() or not bool((s != s[0]).any())):
            split_at = int(s[0])
            for layer in self.layers:
                h = layer(h, split_at=split_at)
                states.append(h)
            return states
        mask = pfn_attention_mask(seq_len, s, query_self_attention=self.config.query_self_attention,
                                  device=x.device).unsqueeze(1)  # (B, 1, T, T)
        for layer in self.layers:
            h = layer(h, mask)
            states.append(h)
        return states

    def forward(self, x: Tensor, y: Tensor | None = None, eval_pos: int | Tensor | None = None) -> Tensor:
        """Bar logits ``(B, T, M)`` for every token of ``x`` ``(B, T, d)`` (training ys ``y`` ``(B, T)``)."""
        return self.decoder(self.hidden_states(x, y, eval_pos)[-1])

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self(batch["x"], batch.get("y"), batch.get("eval_pos"))

    def predict(self, x_train: Tensor, y_train: Tensor, x_query: Tensor) -> Tensor:
        """The posterior predictive at the queries in ONE forward pass: logits ``(B, q, M)`` for training points
        ``x_train`` ``(B, n, d)``, ``y_train`` ``(B, n)`` and queries ``x_query`` ``(B, q, d)`` (read them with
        ``self.bar``: ``mean``, ``quantile``, ``nll``, ``pdf``)."""
        n = x_train.shape[1]
        x = torch.cat([x_train, x_query], 1)
        y = torch.cat([y_train.to(x.dtype), torch.zeros(x_query.shape[:2], dtype=x.dtype, device=x.device)], 1)
        return self(x, y, n)[:, n:]

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        g = generator or torch.Generator().manual_seed(0)
        t = 8
        return {
            "x": torch.rand(batch_size, t, self.config.num_features, generator=g),
            "y": torch.randn(batch_size, t, generator=g),
            "eval_pos": torch.randint(1, t - 1, (batch_size,), generator=g),
        }

    def extra_repr(self) -> str:
        c = self.config
        return (f"d_model={c.d_model}, n_layers={c.n_layers}, n_heads={c.n_heads}, d_ff={c.d_ff}, "
                f"buckets={c.num_buckets}, attention={c.attention}")


def parameter_count(config: PFNTransformerConfig) -> int:
    """Trainable parameters of a config, closed form (torch's TransformerEncoderLayer sizes): encoders
    (d + 1) D + 2 D, per layer 4 D^2 + 4 D + 2 D F + F + D + 4 D, decoder D F + F + F M + M."""
    d, dm, f, m, n = config.num_features, config.d_model, config.d_ff, config.num_buckets, config.n_layers
    layer = 4 * dm * dm + 4 * dm + 2 * dm * f + f + dm + 4 * dm
    return (d + 1) * dm + 2 * dm + n * layer + dm * f + f + f * m + m

