"""Plain PyTorch versions of our GPT and LSTM LM, written independently of tinygrad_llm: the oracle for
the model tests and the baseline for bench/train.py. Parameter names equal ours, so
``load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})`` copies weights over.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as TF


class TorchAttention(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)

    def forward(self, x, cache=None):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
        Tk = k.shape[2]
        mask = torch.ones(T, Tk, dtype=torch.bool, device=x.device).tril(Tk - T)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return self.c_proj(y)


class TorchMLP(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C)
        self.c_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        return self.c_proj(TF.gelu(self.c_fc(x), approximate="tanh"))


class TorchBlock(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(C), TorchAttention(C, H)
        self.ln_2, self.mlp = nn.LayerNorm(C), TorchMLP(C)

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class TorchGPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([TorchBlock(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)

    def forward(self, idx, targets=None, cache=None, start_pos=0):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(start_pos, start_pos + T, device=idx.device))
        for i, b in enumerate(self.h):
            x = b(x, None if cache is None else cache[i])
        logits = self.ln_f(x) @ self.wte.weight.T
        if targets is None:
            return logits
        return logits, TF.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, use_cache=True):
        """Greedy decoding with the same context rule as ours (window jumps by half a block)."""
        T = self.block_size
        cache, start, seen = None, None, 0
        for _ in range(max_new_tokens):
            n = idx.shape[1]
            s = 0 if n <= T else -(-(n - T) // max(1, T // 2)) * max(1, T // 2)
            if not use_cache:
                logits = self(idx[:, s:])
            elif cache is None or s != start:
                cache, start = [{} for _ in self.h], s
                logits = self(idx[:, s:], cache=cache)
            else:
                logits = self(idx[:, seen:], cache=cache, start_pos=seen - s)
            seen = n
            idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], 1)
        return idx


class TorchLSTMLM(nn.Module):
    def __init__(self, vocab_size, n_embd, hidden_size, num_layers=1):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, n_embd)
        self.lstm = nn.LSTM(n_embd, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, targets=None, state=None):
        out, state = self.lstm(self.embedding(idx), state)
        logits = self.head(out)
        if targets is None:
            return logits, state
        return logits, state, TF.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def copy_weights(ours, theirs):
    """Copy our model's parameters into the torch model (the names are the same)."""
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()}, strict=True)
    return theirs
