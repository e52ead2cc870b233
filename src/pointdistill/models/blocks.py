"""Transformer building blocks (timm style): attention, MLP, stochastic depth, pre-norm blocks.

Attention runs through ``F.scaled_dot_product_attention`` so CPU and GPU both get a fused kernel. Masks follow its
convention: a bool mask is True where a query *may* attend, a float mask is added to the logits; either broadcasts to
[B, heads, queries, keys], and a [B, queries, keys] mask is applied to every head. A query whose row is all False has
nothing to attend to and yields NaN, so callers must leave every query at least one key.

Every block takes ``norm`` (``layer`` or AsymDSD's ``rms``) and ``bias``: ``bias=False`` drops the bias of every
linear layer in it (qkv, output projection, MLP), as AsymDSD's encoder and predictor do. The defaults are the
Point-MAE blocks (LayerNorm, biases everywhere except qkv).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.models.common import make_norm
from pointdistill.models.stochastic import per_sample_uniform

INIT_STD = 0.02
"""Standard deviation of the truncated-normal init of linear weights and learned tokens (timm, AsymDSD)."""


def init_weights(module: nn.Module) -> None:
    """timm's ViT init: truncated normal (std 0.02) linear weights, zero biases, LayerNorm ones/zeros, RMSNorm ones."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.RMSNorm):
        nn.init.ones_(module.weight)


def init_token(token: torch.Tensor) -> None:
    """Initialise a learned token (CLS, mask token) in place: truncated normal, std 0.02, as timm and AsymDSD do."""
    nn.init.trunc_normal_(token, std=INIT_STD)


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for a whole sample with probability ``drop_prob`` (training only).

    Kept samples are rescaled by 1 / (1 - p) so the expected output matches evaluation. Inside
    :func:`~pointdistill.models.stochastic.sample_keys` the draw follows each sample's key, so the mask of a sample
    does not depend on the batch it came in.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        draw = per_sample_uniform(x.shape[0])
        if draw is None:
            mask = x.new_empty(shape).bernoulli_(keep)
        else:
            mask = (draw.to(x.device) >= self.drop_prob).to(x.dtype).view(shape)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class Mlp(nn.Module):
    """Linear -> GELU -> Linear, the feed-forward half of every block (``bias=False``: AsymDSD's bias-free linears)."""

    def __init__(self, dim: int, hidden_dim: int, out_dim: int | None = None, *, bias: bool = True) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim, bias=bias)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, out_dim or dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """[B, T, H*d] -> [B, H, T, d]."""
    batch, tokens, dim = x.shape
    return x.reshape(batch, tokens, num_heads, dim // num_heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, H, T, d] -> [B, T, H*d]."""
    batch, heads, tokens, dim = x.shape
    return x.transpose(1, 2).reshape(batch, tokens, heads * dim)


def _head_mask(attn_mask: torch.Tensor | None) -> torch.Tensor | None:
    """Give a per-sample [B, Tq, Tk] mask a head axis so it broadcasts over heads."""
    if attn_mask is not None and attn_mask.dim() == 3:
        return attn_mask.unsqueeze(1)
    return attn_mask


def _attention_probs(q: torch.Tensor, k: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) [B, H, Tq, Tk] in float32: what the fused kernel computes but never returns."""
    logits = (q.float() @ k.float().transpose(-2, -1)) * q.shape[-1] ** -0.5
    attn_mask = _head_mask(attn_mask)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            logits = logits.masked_fill(~attn_mask, float("-inf"))
        else:
            logits = logits + attn_mask.float()
    return logits.softmax(dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention over [B, T, D] with one fused qkv projection (rows: q, then k, then v).

    ``bias=False`` removes the output projection's bias (and the qkv bias, whatever ``qkv_bias`` says).
    """

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = False, bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias and bias)
        self.proj = nn.Linear(dim, dim, bias=bias)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return _split_heads(q, self.num_heads), _split_heads(k, self.num_heads), _split_heads(v, self.num_heads)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self._qkv(x)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=_head_mask(attn_mask))
        return self.proj(_merge_heads(out))

    def attention_probs(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The attention weights [B, H, T, T] that :meth:`forward` applies, recomputed explicitly (for plots)."""
        q, k, _ = self._qkv(x)
        return _attention_probs(q, k, attn_mask)


class CrossAttention(nn.Module):
    """Multi-head attention of queries [B, Tq, D] over a separate memory [B, Tk, D_mem].

    ``bias=False`` removes the output projection's bias (and the q/kv biases, whatever ``qkv_bias`` says).
    """

    def __init__(
        self, dim: int, num_heads: int, *, memory_dim: int | None = None, qkv_bias: bool = False, bias: bool = True
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias and bias)
        self.kv = nn.Linear(memory_dim or dim, 2 * dim, bias=qkv_bias and bias)
        self.proj = nn.Linear(dim, dim, bias=bias)

    def _qk_v(self, x: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k, v = self.kv(memory).chunk(2, dim=-1)
        heads = self.num_heads
        return _split_heads(self.q(x), heads), _split_heads(k, heads), _split_heads(v, heads)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self._qk_v(x, memory)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=_head_mask(attn_mask))
        return self.proj(_merge_heads(out))

    def attention_probs(
        self, x: torch.Tensor, memory: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The attention weights [B, H, Tq, Tk] that :meth:`forward` applies."""
        q, k, _ = self._qk_v(x, memory)
        return _attention_probs(q, k, attn_mask)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)), each branch under stochastic depth."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        drop_path: float = 0.0,
        norm: str = "layer",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.norm1 = make_norm(norm, dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, bias=bias)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = make_norm(norm, dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=bias)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x), attn_mask))
        return x + self.drop_path2(self.mlp(self.norm2(x)))

    def attention_probs(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention weights [B, H, T, T] of this block for input ``x``."""
        return self.attn.attention_probs(self.norm1(x), attn_mask)


class CrossAttentionBlock(nn.Module):
    """Pre-norm block whose queries attend to a memory only, never to each other, then an MLP.

    This is AsymDSD's predictor block: a masked query sees the visible context but no other masked query, so the
    shape of the masked region cannot leak between queries.

    ``norm`` is ``"layer"`` or ``"rms"`` (AsymDSD: RMSNorm); ``bias=False`` removes the bias of every linear layer
    (AsymDSD's predictor); ``norm_memory=False`` attends to the memory as given, without a
    per-block norm (AsymDSD normalises only the queries: its memory is the encoder's final-normed output).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        memory_dim: int | None = None,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        drop_path: float = 0.0,
        norm: str = "layer",
        bias: bool = True,
        norm_memory: bool = True,
    ) -> None:
        super().__init__()
        self.norm_query = make_norm(norm, dim)
        self.norm_memory = make_norm(norm, memory_dim or dim) if norm_memory else nn.Identity()
        self.attn = CrossAttention(dim, num_heads, memory_dim=memory_dim, qkv_bias=qkv_bias, bias=bias)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = make_norm(norm, dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=bias)
        self.drop_path2 = DropPath(drop_path)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = x + self.drop_path1(self.attn(self.norm_query(x), self.norm_memory(memory), attn_mask))
        return x + self.drop_path2(self.mlp(self.norm2(x)))
