r"""LSTM language model: Embedding → LSTM → Linear.

$$e_t = E[x_t],\qquad (h_t, c_t) = \mathrm{LSTM}(e_t, (h_{t-1}, c_{t-1})),\qquad
P(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(W h_t + b)$$

Truncated back-propagation through time: the training loop carries $(h, c)$ from one window to the
next but ``detach``es it, so gradients flow back at most one window (``block_size`` steps) while the
state still summarises everything read before. At generation time the state is the whole memory of
the model, so each new token costs one cell step (the LSTM's counterpart of the GPT's KV cache).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import functional as F
from ..autograd import no_grad
from ..generation import GenerationMixin
from ..nn import Dropout, Embedding, Linear, LSTM, Module
from ..tensor import Tensor
from .config import ModelConfig


@dataclass
class LSTMConfig(ModelConfig):
    vocab_size: int = 65
    n_embd: int = 64
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.0
    block_size: int = 64          # training window (truncated BPTT length)

    PRESETS: ClassVar[dict] = {
        "tiny": dict(n_embd=16, hidden_size=32, block_size=32),
        "cpu": dict(n_embd=64, hidden_size=256, block_size=64),
        "baby": dict(n_embd=128, hidden_size=512, num_layers=2, dropout=0.2, block_size=128),
    }
    SIZES: ClassVar[tuple] = ("vocab_size", "n_embd", "hidden_size", "num_layers", "block_size")

    def __post_init__(self):
        self.check()

    def num_parameters(self) -> int:
        """Parameters an ``LSTMLM`` of this config holds, from the formula alone (nothing is allocated):
        $VE$ embedding, $4H(I_l + H) + 8H$ per layer ($I_0 = E$, else $H$), $HV + V$ head."""
        E, H, V, L = self.n_embd, self.hidden_size, self.vocab_size, self.num_layers
        return V * E + 4 * H * (E + H) + 8 * H + (L - 1) * (4 * H * 2 * H + 8 * H) + H * V + V

    def num_tensors(self) -> int:
        """Arrays in an ``LSTMLM``'s ``state_dict`` of this config (4 per layer + 3)."""
        return 3 + 4 * self.num_layers


class LSTMLM(GenerationMixin, Module):
    recurrent = True          # the trainer carries (h, c) from one window to the next (truncated BPTT)

    def __init__(self, config: LSTMConfig | None = None, **kwargs):
        super().__init__()
        cfg = config if config is not None else LSTMConfig(**kwargs)
        self.config = cfg
        self.embedding = Embedding(cfg.vocab_size, cfg.n_embd)                   # (V, E)
        self.lstm = LSTM(cfg.n_embd, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
                         dropout=cfg.dropout)
        self.drop = Dropout(cfg.dropout)
        self.head = Linear(cfg.hidden_size, cfg.vocab_size)                      # (V, H)

    # [start:forward]
    def forward(self, idx, targets=None, state=None):
        """Logits (B, T, V) and the final state ((L, B, H), (L, B, H)); with ``targets`` also the loss."""
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2:
            raise ValueError(f"LSTMLM: expected token ids of shape (B, T), got {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise IndexError(f"LSTMLM: token id out of range 0..{self.config.vocab_size - 1}")
        x = self.drop(self.embedding(idx))                   # (B, T, E)
        out, state = self.lstm(x, state)                     # (B, T, H), ((L, B, H), (L, B, H))
        logits = self.head(self.drop(out))                   # (B, T, V)
        if targets is None:
            return logits, state
        loss = F.cross_entropy(logits, np.asarray(getattr(targets, "data", targets)))
        return logits, state, loss
    # [end:forward]

    def loss(self, idx, targets, state=None):
        """Trainer hook: (loss, next state detached for truncated BPTT)."""
        _, state, loss = self.forward(idx, targets, state)
        return loss, (state[0].detach(), state[1].detach())

    # ---------------------------------------------------------------- generation hooks
    def next_logits(self, ids, state=None, use_cache=True):
        """Logits (B, V) after ``ids`` (B, n). With ``use_cache`` the (h, c) state carries over, so only the
        new tokens are read; without, the whole sequence is re-read every step."""
        with no_grad():
            if not use_cache or state is None:
                logits, hc = self.forward(ids)
            else:
                logits, hc = self.forward(ids[:, state["seen"]:], state=state["hc"])
        return logits.data[:, -1], {"seen": ids.shape[1], "hc": hc}

    @staticmethod
    def reorder_state(state, index):
        if state is None:
            return None
        h, c = state["hc"]
        return {**state, "hc": (Tensor(h.data[:, index]), Tensor(c.data[:, index]))}

    def flops_per_token(self) -> int:
        """Training FLOPs per token: 6 per weight of the input/recurrent matrices and the head."""
        c = self.config
        n = sum(p.size for n_, p in self.named_parameters() if p.ndim >= 2 and not n_.startswith("embedding"))
        return 6 * n

    @property
    def block_size(self):
        return self.config.block_size
