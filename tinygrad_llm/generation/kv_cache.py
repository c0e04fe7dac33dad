r"""The key/value cache: what an attention layer remembers between decoding steps.

A token can only look at the past, so the keys and values of earlier tokens never change. Layer $l$
keeps them, and step $t$ computes $q_t, k_t, v_t$ for the new tokens only:
$$K^{(l)}_{1..t} = \begin{bmatrix} K^{(l)}_{1..t-1} \\ k^{(l)}_t \end{bmatrix},\qquad
o_t = \mathrm{softmax}\!\left(\frac{q_t K_{1..t}^{\top}}{\sqrt d}\right) V_{1..t}$$
one row of attention instead of a forward pass over the whole context. The cache holds
$2 \cdot L \cdot H_{kv} \cdot T \cdot d$ numbers for $L$ layers, $H_{kv}$ key/value heads of size $d$.

Appending one step at a time with ``concatenate`` would copy the whole cache at every step
($O(T^2)$ copies for $T$ tokens); the buffer here grows by doubling instead, so appending is amortised
$O(1)$ per token and ``update`` returns views of the filled part.
"""
from __future__ import annotations

from .. import backend


class KVCache:
    """Keys and values of the tokens seen so far, one pair of arrays (B, H_kv, T_seen, d) per layer."""

    def __init__(self, n_layers: int):
        self._k = [None] * n_layers            # buffers (B, H_kv, capacity, d)
        self._v = [None] * n_layers
        self._n = [0] * n_layers               # filled length per layer

    def seen(self, layer: int = 0) -> int:
        """How many tokens layer ``layer`` has cached: the position of its next token."""
        return self._n[layer]

    def keys(self, layer: int):
        """The cached keys of a layer, (B, H_kv, T_seen, d) (a view; None before the first update)."""
        return None if self._k[layer] is None else self._k[layer][..., :self._n[layer], :]

    def values(self, layer: int):
        return None if self._v[layer] is None else self._v[layer][..., :self._n[layer], :]

    @property
    def nbytes(self) -> int:
        """Bytes of the cached keys and values (the filled part: $2 L H_{kv} T d$ numbers)."""
        return sum(a.nbytes for i in range(len(self._n)) for a in (self.keys(i), self.values(i)) if a is not None)

    # [start:update]
    def update(self, layer: int, k, v):
        """Append this step's keys/values (B, H_kv, T, d) and return everything cached for the layer."""
        n, T = self._n[layer], k.shape[-2]
        buf_k, buf_v = self._k[layer], self._v[layer]
        if buf_k is None or n + T > buf_k.shape[-2]:                 # grow: double the capacity
            xp = backend.array_module(k)
            cap = max(2 * (0 if buf_k is None else buf_k.shape[-2]), n + T, 16)
            new_k = xp.empty(k.shape[:-2] + (cap, k.shape[-1]), dtype=k.dtype)
            new_v = xp.empty(v.shape[:-2] + (cap, v.shape[-1]), dtype=v.dtype)
            if n:
                new_k[..., :n, :], new_v[..., :n, :] = buf_k[..., :n, :], buf_v[..., :n, :]
            buf_k, buf_v = self._k[layer], self._v[layer] = new_k, new_v
        buf_k[..., n:n + T, :] = k                                   # (B, H_kv, n + T, d) filled
        buf_v[..., n:n + T, :] = v
        self._n[layer] = n + T
        return buf_k[..., :n + T, :], buf_v[..., :n + T, :]
    # [end:update]

    def reorder(self, rows):
        """Keep batch rows ``rows`` (an index array; rows may repeat), e.g. the surviving beams."""
        self._k = [None if k is None else k[rows] for k in self._k]
        self._v = [None if v is None else v[rows] for v in self._v]
        return self
