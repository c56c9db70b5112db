"""A byte-level GPT (decoder-only transformer) with an optional KV cache for generation.

Top-down like nanoGPT's model.py: norms, rotary embeddings, attention, MLP, block, the KV
cache, then the model (built from `config.ModelConfig`). The seed configuration (vocab 256, ctx 512, d_model 320,
8 layers of 10 heads, MLP 1280, tied embeddings, learned positions) has 10,081,600
parameters, inside the training plan's 10-12M (rope: 9,917,760, no position table).

Trade-off: attention goes through `F.scaled_dot_product_attention(is_causal=True)`, which
on CPU picks a fused flash kernel, but only while `dropout_p == 0`: any attention dropout
forces the unfused math path, several times slower (`make bench`, "attention dropout"). So
the seed config regularises with residual dropout and leaves attention dropout at 0.0.

The KV cache makes sampling many times cheaper than full recompute (`make bench`, "KV
cache"); see `KVCache`.

References:
1) nanoGPT model.py (Karpathy): https://github.com/karpathy/nanoGPT/blob/master/model.py
2) GPT-2 (Radford et al. 2019): init std 0.02, residual projections scaled by 1/sqrt(2L).
3) RoFormer (Su et al. 2021): rotary position embeddings.
4) PaLM (Chowdhery et al. 2022) appendix B: 6N + 12 L H Q T flops per token.
"""

import inspect
import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from proofgpt.config import ModelConfig


class RMSNorm(nn.Module):
    """x / rms(x) * weight (no mean subtraction, no bias); cheaper than LayerNorm."""

    def __init__(self, ndim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(ndim))

    def forward(self, x):
        return F.rms_norm(x, (x.size(-1),), self.weight, self.eps)


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's bias=False needs torch >= 2.1)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


def make_norm(config):
    return RMSNorm(config.d_model) if config.norm == "rmsnorm" else LayerNorm(config.d_model, config.bias)


def rope_tables(ctx, head_dim, base=10000.0):
    """cos, sin tables (ctx, head_dim/2) for rotary embeddings. rope_tables(4, 2)[0][:, 0] = cos(0..3)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))  # (hs/2,)
    t = torch.arange(ctx, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)  # (ctx, hs/2)
    return freqs.cos(), freqs.sin()


def apply_rope(x, cos, sin):
    """Rotate pairs (x1[i], x2[i]) of the two halves of the head dim by position-dependent angles.

    x: (B, nh, T, hs); cos, sin: (T, hs/2) or per row (B, 1, T, hs/2), taken at the positions of x.
    """
    x1, x2 = x.chunk(2, dim=-1)  # (B, nh, T, hs/2) each
    y1 = x1 * cos - x2 * sin
    y2 = x1 * sin + x2 * cos
    return torch.cat([y1, y2], dim=-1).type_as(x)


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.d_model % config.n_heads == 0
        self.n_heads = config.n_heads
        self.d_model = config.d_model
        self.attn_dropout = config.attn_dropout
        # key, query, value projections for all heads, in one batch
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.c_proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, rope=None, cache=None, layer=0, mask=None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.d_model, dim=2)
        hs = C // self.n_heads
        q = q.view(B, T, self.n_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        if rope is not None:
            cos, sin = rope  # (T, hs/2) or (B, 1, T, hs/2), at the tokens' positions (see GPT.forward)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)

        pos = 0 if cache is None else cache.pos
        if cache is not None:
            k, v = cache.store(layer, k, v)  # (B, nh, pos+T, hs): the past and these T tokens
        dropout_p = self.attn_dropout if self.training else 0.0
        if mask is not None:
            # left-padded rows in a cache (see KVCache.pad): mask (B, 1, T, pos+T) built by GPT.forward
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        elif pos == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        elif T == 1:
            # one new token attends to everything cached (is_causal would mask all but key 0)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:
            # T new tokens after pos cached ones: query i sees keys 0..pos+i
            mask = torch.ones(T, pos + T, dtype=torch.bool, device=x.device).tril(diagonal=pos)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): re-assemble the heads
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.d_model, config.d_mlp, bias=config.bias)
        self.act = nn.GELU() if config.act == "gelu" else nn.SiLU()
        self.c_proj = nn.Linear(config.d_mlp, config.d_model, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = make_norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = make_norm(config)
        self.mlp = MLP(config)

    def forward(self, x, rope=None, cache=None, layer=0, mask=None):
        x = x + self.attn(self.ln_1(x), rope, cache, layer, mask)
        x = x + self.mlp(self.ln_2(x))
        return x


class KVCache:
    """Keys and values of every layer for the tokens seen so far, pre-allocated to max_len.

    k, v: (n_layers, B, nh, max_len, hs). `GPT.forward(idx, cache=cache)` writes the new
    tokens' keys/values at [pos, pos+T) in every layer, attends over [0, pos+T), then
    advances pos by T. All rows share the slot index pos.

    Prompts of different lengths share a batch by left padding: `pad` (B,) holds each row's
    number of leading pad slots. Row r's token in slot j then has position j - pad[r], and
    slots < pad[r] are masked out of its attention, so a padded row computes what it would
    alone (to float rounding). The cache may be longer than ctx (pad + ctx), positions never.
    """

    def __init__(self, config, batch_size, max_len=None, device="cpu", dtype=torch.float32, pad=None):
        self.max_len = max_len or config.ctx
        hs = config.d_model // config.n_heads
        shape = (config.n_layers, batch_size, config.n_heads, self.max_len, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0
        self.pad = None if pad is None else torch.as_tensor(pad, dtype=torch.long, device=device)  # (B,)

    def store(self, layer, k, v):
        """Write k, v (B, nh, T, hs) at the current position; return all keys/values so far."""
        T = k.size(2)
        if self.pos + T > self.max_len:
            raise ValueError(f"KV cache full: {self.pos} + {T} tokens > max_len {self.max_len}")
        self.k[layer, :, :, self.pos:self.pos + T] = k
        self.v[layer, :, :, self.pos:self.pos + T] = v
        return self.k[layer, :, :, :self.pos + T], self.v[layer, :, :, :self.pos + T]

    def select(self, rows):
        """Keep (or repeat) batch rows: rows is a LongTensor of row indices into the batch."""
        self.k = self.k[:, rows]
        self.v = self.v[:, rows]
        if self.pad is not None:
            self.pad = self.pad[rows]


GPTConfig = ModelConfig  # nanoGPT's name; the one definition is config.ModelConfig (torch-free)


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.wpe = nn.Embedding(config.ctx, config.d_model) if config.pos == "learned" else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layers)])
        self.ln_f = make_norm(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied input/output embeddings (one tensor)
        if config.pos == "rope":
            cos, sin = rope_tables(config.ctx, config.d_model // config.n_heads)
            # not in the state dict: derived from the config, rebuilt on load
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

        # GPT-2 init: N(0, 0.02) everywhere, residual output projections N(0, 0.02/sqrt(2L))
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layers))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None, label_smoothing=0.0, cache=None):
        """idx (B, T) int64 -> (logits (B, T, V), loss or None); targets == -1 are ignored.

        With `cache` (a KVCache), idx holds the T tokens after the cache.pos already seen;
        positions are offset by cache.pos (learned and rope alike), and the cache advances.
        """
        B, T = idx.size()
        pos0 = 0 if cache is None else cache.pos
        pad = None if cache is None else cache.pad
        pos = torch.arange(pos0, pos0 + T, dtype=torch.long, device=idx.device)  # (T,) slots
        mask = None
        if pad is not None:
            # left-padded rows: positions count from each row's first real token, and a query
            # sees the keys in slots [pad, its own slot] (and itself, so pad rows stay finite)
            slots = torch.arange(pos0 + T, device=idx.device)  # (S,) key slots
            mask = (slots[None, None, :] <= pos[None, :, None]) & (slots[None, None, :] >= pad[:, None, None])
            mask = (mask | (slots[None, None, :] == pos[None, :, None]))[:, None]  # (B, 1, T, S)
            pos = (pos[None, :] - pad[:, None]).clamp(min=0)  # (B, T) positions
        # (checked in Python without padding: a tensor check would sync the GPU every step)
        n_pos = pos0 + T if pad is None else int(pos.max()) + 1
        if n_pos > self.config.ctx:
            raise ValueError(f"sequence of {n_pos} tokens is longer than ctx {self.config.ctx}")
        x = self.wte(idx)  # (B, T, C)
        rope = None
        if self.wpe is not None:
            x = x + self.wpe(pos)  # (B, T, C)
        elif pad is None:
            rope = (self.rope_cos[pos], self.rope_sin[pos])  # (T, hs/2) each
        else:
            rope = (self.rope_cos[pos][:, None], self.rope_sin[pos][:, None])  # (B, 1, T, hs/2) each
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, rope, cache, i, mask)
        x = self.ln_f(x)
        logits = self.lm_head(x)  # (B, T, V)
        if cache is not None:
            cache.pos += T

        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.view(-1),
                                   ignore_index=-1, label_smoothing=label_smoothing)
        return logits, loss

    def num_params(self, non_embedding=False):
        """Parameters, the tied embedding/head counted once; non_embedding drops the position table."""
        n = sum(p.numel() for p in self.parameters())  # parameters() yields a shared tensor once
        if non_embedding and self.wpe is not None:
            n -= self.wpe.weight.numel()
        return n

    def param_table(self):
        """[(group, n_params)] for notebooks: embeddings, attention, MLP, norms (sums to num_params)."""
        groups = {"token embedding (tied head)": 0, "position embedding": 0, "attention": 0, "mlp": 0, "norms": 0}
        for name, p in self.named_parameters():  # tied weight appears once, as wte.weight
            if name.startswith("wte."):
                groups["token embedding (tied head)"] += p.numel()
            elif name.startswith("wpe."):
                groups["position embedding"] += p.numel()
            elif ".attn." in name:
                groups["attention"] += p.numel()
            elif ".mlp." in name:
                groups["mlp"] += p.numel()
            else:
                groups["norms"] += p.numel()
        return list(groups.items())

    def flops_per_token(self, ctx=None):
        """Training flops per token (fwd+bwd): 6N + 12 L d_model T (attention scores), as in
        PaLM / nanoGPT's estimate_mfu. N excludes the position table (a lookup, not a matmul)
        but includes the tied embedding (it is also the output matmul)."""
        cfg = self.config
        T = ctx or cfg.ctx
        return 6 * self.num_params(non_embedding=True) + 12 * cfg.n_layers * cfg.d_model * T

    def configure_optimizer(self, weight_decay, lr, betas, device_type="cpu", decay_embeddings=False):
        """AdamW; weight decay on the 2-D matmul weights only (not norms, biases, and not the
        embeddings unless decay_embeddings: nanoGPT decays every 2-D tensor, embeddings included)."""
        embeddings = set() if decay_embeddings else (
            {id(self.wte.weight)} | ({id(self.wpe.weight)} if self.wpe is not None else set()))
        decay, no_decay = [], []
        for p in self.parameters():
            if not p.requires_grad:
                continue
            (decay if p.dim() >= 2 and id(p) not in embeddings else no_decay).append(p)
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        use_fused = device_type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters
        extra = {"fused": True} if use_fused else {}
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), **extra)
