"""The torch models: a recurrent language model (cuDNN's LSTM, GRU or tanh RNN) and a
GPT-style Transformer decoder.

RecurrentLM:  e_t = E[x_t] (+ C[c], a labelled model's category c); h = rnn(e) (dropout
    between layers); logits = drop(h) W + b
TransformerLM (pre-norm): x = tok[x_t] + pos[t]   (rotary positions: x = tok[x_t], and q, k
    turned by their position as in saurus.models.transformer)
    (+ C[c], a labelled model's category c)
    x = x + proj(attn(ln1(x)))     attn: causal softmax(q k^T / sqrt(d_head)) v
    x = x + W2 gelu_tanh(W1 ln2(x))
    logits = ln_f(x) W_head + b   (W_head = tok^T when tied)
Both read ids (B, T) batch-first. Their weights map one to one onto the NumPy models
(saurus.training.backends.torch.convert), which is what gets saved.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)
from torch import nn

from saurus.models.transformer import rotary_tables as numpy_rotary_tables

RNNS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
Turn = tuple[torch.Tensor, torch.Tensor]


def rotary_tables(length: int, head_dim: int, device: torch.device, dtype: torch.dtype) -> Turn:
    """The NumPy engine's cos and sin tables for positions 0 .. length-1, as tensors."""
    cos, sin = numpy_rotary_tables(0, length, head_dim, np.float64)
    return torch.from_numpy(cos).to(device, dtype), torch.from_numpy(sin).to(device, dtype)


def rotate(u: torch.Tensor, turn: Turn) -> torch.Tensor:
    """u cos + [-u2, u1] sin over the last axis."""
    cos, sin = turn
    half = u.shape[-1] // 2
    return u * cos + torch.cat([-u[..., half:], u[..., :half]], dim=-1) * sin


class RecurrentLM(nn.Module):
    def __init__(
        self,
        vocab: int,
        cell: str,
        hidden: int,
        layers: int,
        dropout: float,
        embed: int = 64,
        categories: int = 0,
    ) -> None:
        super().__init__()
        self.cell, self.hidden, self.layers, self.dropout_p = cell, hidden, layers, dropout
        self.embed = nn.Embedding(vocab, embed)
        self.cat = nn.Embedding(categories, embed) if categories else None
        between = dropout if layers > 1 else 0.0  # torch warns about dropout after a last layer
        self.rnn = RNNS[cell](embed, hidden, num_layers=layers, batch_first=True, dropout=between)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab)

    def inputs(self, ids: torch.Tensor, cats: torch.Tensor | None) -> torch.Tensor:
        """The embedded ids (B, T, E), plus each row's category embedding."""
        x = self.embed(ids)
        if self.cat is not None and cats is not None:
            x = x + self.cat(cats)[:, None, :]
        return x

    def forward(
        self, ids: torch.Tensor, state: object = None, cats: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, object]:
        out, state = self.rnn(self.inputs(ids, cats), state)
        return self.head(self.drop(out)), state


class Block(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout_p = heads, dropout
        self.ln1 = nn.LayerNorm(d_model, eps=1e-5)
        self.attn = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model, eps=1e-5)
        self.fc1 = nn.Linear(d_model, 4 * d_model)
        self.fc2 = nn.Linear(4 * d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, turn: Turn | None = None) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.attn(self.ln1(x)).split(D, dim=2)
        q, k, v = (t.view(B, T, self.heads, D // self.heads).transpose(1, 2) for t in (q, k, v))
        if turn is not None:
            q, k = rotate(q, turn).to(v.dtype), rotate(k, turn).to(v.dtype)
        p = self.dropout_p if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(B, T, D)))
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh")))


class TransformerLM(nn.Module):
    def __init__(
        self,
        vocab: int,
        d_model: int,
        layers: int,
        heads: int,
        context: int,
        dropout: float,
        tied: bool,
        positions: str = "learned",
        categories: int = 0,
    ) -> None:
        super().__init__()
        self.d_model, self.layers, self.heads, self.context = d_model, layers, heads, context
        self.dropout_p, self.tied, self.positions = dropout, tied, positions
        self.tok = nn.Embedding(vocab, d_model)
        self.cat = nn.Embedding(categories, d_model) if categories else None
        # rotary tables are plain attributes, not buffers: DDP would broadcast buffers every step
        self.pos = nn.Embedding(context, d_model) if positions == "learned" else None
        self.turns: dict[tuple[int, str, torch.dtype], Turn] = {}
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model, eps=1e-5)
        self.head = nn.Linear(d_model, vocab)
        if tied:
            self.head.weight = self.tok.weight
        self.apply(self.init_weights)
        for block in self.blocks:  # residual projections, scaled for depth (GPT-2)
            nn.init.normal_(block.proj.weight, std=0.02 / math.sqrt(2 * layers))
            nn.init.normal_(block.fc2.weight, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def forward(
        self,
        ids: torch.Tensor,
        state: object = None,
        zero_inputs: torch.Tensor | None = None,
        cats: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, object]:
        """Logits (B, T, V) for ids (B, T); token embeddings are zero where zero_inputs is
        True (START in a vocabulary without the end token); `cats` (B,): each row's category."""
        T = ids.shape[1]
        x = self.tok(ids)
        if zero_inputs is not None:
            x = x.masked_fill(zero_inputs[..., None], 0.0)
        if self.cat is not None and cats is not None:
            x = x + self.cat(cats)[:, None, :]
        turn = None
        if self.pos is not None:
            x = x + self.pos(torch.arange(T, device=ids.device))
        else:
            key = (T, str(ids.device), x.dtype)
            if key not in self.turns:
                self.turns[key] = rotary_tables(T, self.d_model // self.heads, ids.device, x.dtype)
            turn = self.turns[key]
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, turn)
        return self.head(self.ln_f(x)), None
